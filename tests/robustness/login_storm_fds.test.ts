/**
 * A login storm against a proxy running in-process must hand every socket
 * back: after many IMAP, POP3 and SMTP sessions of the benchmark's shape
 * (greeting, login, LOGOUT/QUIT, the backend closes, the client closes after
 * the goodbye) this process holds no socket descriptor beyond those it held
 * before, well inside the relay's 30 s destroy bound.
 *
 * Descriptors are counted from /proc/self/fd, not only from the TCP table: a
 * socket whose connection the kernel has finished (both FINs exchanged) is no
 * longer in /proc/net/tcp, yet its descriptor stays open until the runtime
 * closes it. That is how the first relay (0530b09) leaked on Deno: it paused
 * both sides after end(), so Deno never saw the peer's FIN and never emitted
 * `close`; each session pinned a descriptor for 30 s, and a 50-client
 * benchmark storm hit EMFILE after about 20,000 sessions.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { isDeepStrictEqual } from "node:util";
import { startAuthServer, type AuthServer } from "../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../support/scripted_backend.ts";
import { freePort } from "../support/ports.ts";
import { eventually } from "../support/resources.ts";

const SESSIONS_PER_PROTOCOL = 300;
const CONCURRENCY = 10;
/** Well below the relay's 30 s destroy timer, so descriptors only that timer frees count as held. */
const SETTLE_MS = 10_000;

type Protocol = "imap" | "pop3" | "smtp";

/**
 * Backends that answer like the benchmark's: what the proxy's login sends is
 * accepted, the goodbye is sent and then the backend closes first.
 */
const BACKEND_REPLIES: Record<Protocol, { greeting: string; reply(line: string, n: number): { text: string; close?: boolean } }> = {
  imap: {
    greeting: "* OK ready\r\n",
    // the proxy logs in with the client's tag and synchronising literals: `a LOGIN {5}`, `bench {6}`, `secret`
    reply: (line, n) => {
      const tag = line.split(" ")[0];
      if (n <= 2) return { text: "+ OK\r\n" };
      if (n === 3) return { text: "a OK Logged in\r\n" };
      if (/ LOGOUT$/i.test(line)) return { text: `* BYE bench\r\n${tag} OK LOGOUT completed\r\n`, close: true };
      return { text: `${tag} OK done\r\n` };
    },
  },
  pop3: {
    greeting: "+OK ready\r\n",
    reply: (line) => (/^QUIT$/i.test(line) ? { text: "+OK bye\r\n", close: true } : { text: "+OK\r\n" }),
  },
  smtp: {
    greeting: "220 backend ESMTP\r\n",
    reply: (line) => (/^QUIT$/i.test(line) ? { text: "221 bye\r\n", close: true } : { text: "250 backend\r\n" }),
  },
};

function benchBackend(protocol: Protocol) {
  const { greeting, reply } = BACKEND_REPLIES[protocol];
  return (c: ScriptedConnection) => {
    c.send(greeting);
    let seen = 0;
    c.socket.on("data", () => {
      const lines = c.received().split("\r\n").slice(0, -1);
      while (seen < lines.length) {
        const answer = reply(lines[seen]!, ++seen);
        c.send(answer.text);
        if (answer.close) return c.socket.end();
      }
    });
  };
}

/** Each protocol's client session: what is sent, and exactly the lines read back. */
const DIALOGUES: Record<Protocol, Array<{ send?: string; expect: string[] }>> = {
  imap: [
    { expect: ["* OK IMAP4 ready"] },
    { send: "a LOGIN bench secret\r\n", expect: ["a OK Logged in"] },
    { send: "b LOGOUT\r\n", expect: ["* BYE bench", "b OK LOGOUT completed"] },
  ],
  pop3: [
    { expect: ["+OK POP3 ready"] },
    { send: "USER bench\r\n", expect: ["+OK"] },
    { send: "PASS secret\r\n", expect: ["+OK"] },
    { send: "QUIT\r\n", expect: ["+OK bye"] },
  ],
  smtp: [
    { expect: ["220 mx.example.com ESMTP ready"] },
    { send: "EHLO client.example\r\n", expect: ["250-mx.example.com", "250 AUTH PLAIN"] },
    // AUTH PLAIN \0bench\0secret
    { send: "AUTH PLAIN AGJlbmNoAHNlY3JldA==\r\n", expect: ["235 2.0.0 OK"] },
    { send: "QUIT\r\n", expect: ["221 bye"] },
  ],
};

/** One client session through the proxy; returns the lines it read. */
async function session(protocol: Protocol, port: number): Promise<string[]> {
  const c = await WireClient.connect(port);
  const seen: string[] = [];
  try {
    for (const step of DIALOGUES[protocol]) {
      if (step.send) c.send(step.send);
      for (let i = 0; i < step.expect.length; i++) seen.push(await c.line());
    }
  } finally {
    // as bench-load does: close right after the goodbye, without waiting for the proxy's FIN
    c.close();
  }
  return seen;
}

/** Inode of every socket the kernel lists in `files` (column `column`) → that table's line. */
function socketTable(files: string[], column: number): Map<string, string[]> {
  const byInode = new Map<string, string[]>();
  for (const file of files) {
    let text = "";
    try {
      text = fs.readFileSync(file, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length > column) byInode.set(f[column]!, f);
    }
  }
  return byInode;
}

/**
 * This process's socket descriptors: TCP ones with a local or remote port
 * among `ports` as "LOCAL>REMOTE STATE" (state in hex: 01 ESTABLISHED, 0A
 * LISTEN...), and a count of the descriptors whose socket is in no kernel
 * table at all: TCP connections the kernel has finished, still open here.
 */
function socketDescriptors(ports: number[]): { tcp: string[]; finished: number } {
  const tcp = socketTable(["/proc/net/tcp", "/proc/net/tcp6"], 9);
  const other = socketTable(["/proc/net/udp", "/proc/net/udp6"], 9);
  for (const [inode, f] of socketTable(["/proc/net/unix"], 6)) other.set(inode, f);
  const wanted = new Set(ports);
  const out = { tcp: [] as string[], finished: 0 };
  let fds: string[] = [];
  try {
    fds = fs.readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  const port = (addr: string) => parseInt(addr.slice(addr.lastIndexOf(":") + 1), 16);
  for (const fd of fds) {
    let target = "";
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode === undefined || other.has(inode)) continue;
    const f = tcp.get(inode);
    if (!f) out.finished++;
    else if (wanted.has(port(f[1]!)) || wanted.has(port(f[2]!))) out.tcp.push(`${port(f[1]!)}>${port(f[2]!)} ${f[3]}`);
  }
  out.tcp.sort();
  return out;
}

describe("a login storm through a running proxy", () => {
  let auth: AuthServer;
  let proxy: RunningProxy;
  const backends = {} as Record<Protocol, ScriptedBackend>;
  const port = { imap: 0, pop3: 0, smtp: 0 };

  before(async () => {
    for (const p of ["imap", "pop3", "smtp"] as const) backends[p] = await startScriptedBackend(benchBackend(p));
    auth = await startAuthServer((req) => ({
      headers: {
        "Auth-Status": "OK",
        "Auth-Server": "127.0.0.1",
        "Auth-Port": String(backends[req.protocol as Protocol].port),
      },
    }));
    for (const p of ["imap", "pop3", "smtp"] as const) port[p] = await freePort();
    proxy = await startProxy(`events { worker_connections 4096; }
    mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      xclient off;
      server { listen 127.0.0.1:${port.imap}; protocol imap; }
      server { listen 127.0.0.1:${port.pop3}; protocol pop3; }
      server { listen 127.0.0.1:${port.smtp}; protocol smtp; smtp_auth plain; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    for (const b of Object.values(backends)) await b.close();
  });

  const ports = () => [...Object.values(port), auth.port, ...Object.values(backends).map((b) => b.port)];

  /** No session, the auth service's keep-alive connections dropped, then the socket descriptors once `until` holds. */
  async function settledDescriptors(until: (now: ReturnType<typeof socketDescriptors>) => boolean) {
    await eventually(() => proxy.proxy.activeSessions === 0, SETTLE_MS);
    auth.closeIdle();
    await eventually(() => until(socketDescriptors(ports())), SETTLE_MS);
    return socketDescriptors(ports());
  }

  /** What is open now beside `baseline`: the sockets on these ports, and finished connections held since. */
  function comparedWith(baseline: ReturnType<typeof socketDescriptors>, now: ReturnType<typeof socketDescriptors>) {
    // fewer than at the baseline is fine: an earlier test file's sockets may close meanwhile
    return { tcp: now.tcp, finishedHeldSinceBaseline: Math.max(0, now.finished - baseline.finished) };
  }

  for (const protocol of ["imap", "pop3", "smtp"] as const) {
    test(`${SESSIONS_PER_PROTOCOL} ${protocol.toUpperCase()} sessions that end with the backend's goodbye leave no socket descriptor open`, async () => {
      const expected = DIALOGUES[protocol].flatMap((step) => step.expect);
      assert.deepEqual(await session(protocol, port[protocol]), expected, "a warm-up session");
      // only the listeners on these ports; whatever else this process holds stays as it is
      const baseline = await settledDescriptors((d) => d.tcp.every((s) => s.endsWith(" 0A")));

      let started = 0;
      const transcripts = new Map<string, number>();
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (started < SESSIONS_PER_PROTOCOL) {
            started++;
            const lines = (await session(protocol, port[protocol])).join("\n");
            transcripts.set(lines, (transcripts.get(lines) ?? 0) + 1);
          }
        }),
      );
      assert.deepEqual([...transcripts], [[expected.join("\n"), SESSIONS_PER_PROTOCOL]], "every session saw the whole dialogue");

      const expectedNow = { tcp: baseline.tcp, finishedHeldSinceBaseline: 0 };
      const now = await settledDescriptors((d) => isDeepStrictEqual(comparedWith(baseline, d), expectedNow));
      assert.deepEqual(comparedWith(baseline, now), expectedNow, "only the listeners are open, and no finished connection is held");
      assert.equal(proxy.proxy.activeSessions, 0, "no session left");
    });
  }
});
