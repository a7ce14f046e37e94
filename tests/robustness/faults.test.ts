/**
 * Faults of the auth service and of the backend, against a proxy running
 * in-process: each gives the client the protocol's line (spec protocols.md
 * §1.7: `* BAD internal server error`, `-ERR internal server error`,
 * `451 4.3.2 Internal server error`, then close; nothing during the relay),
 * leaves an error-log line, and leaks nothing: afterwards the proxy has no
 * session, this process no socket on the ports involved beyond the
 * listeners, no live proxy timer, and (on Deno, whose
 * process.getActiveResourcesInfo() lists them; Bun's returns an empty list)
 * no other active handle.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthHandler, type AuthReply, startAuthServer, type AuthServer } from "../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../support/scripted_backend.ts";
import { freePort } from "../support/ports.ts";
import { activeResources, eventually, openSockets, TimerTracker } from "../support/resources.ts";

const timers = new TimerTracker();

/** Logs in with each protocol's simplest dialogue; returns what the client saw until the close. */
const LOGINS = {
  imap: { greeting: "* OK IMAP4 ready", login: "a1 LOGIN alice secret\r\n", internal: "* BAD internal server error\r\n" },
  pop3: { greeting: "+OK POP3 ready", login: "USER alice\r\nPASS secret\r\n", internal: "+OK\r\n-ERR internal server error\r\n" },
  smtp: {
    greeting: "220 mx.example.com ESMTP ready",
    login: "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
    internal: "451 4.3.2 Internal server error\r\n",
  },
} as const;
type Protocol = keyof typeof LOGINS;

/**
 * IMAP backends, one per kind of misbehaviour. The proxy logs in with
 * synchronising literals: `a1 LOGIN {5}`, `alice {6}`, `secret`, then relays.
 */
function imapBackend(behaviour: "good" | "reset-at-login" | "stall-at-login" | "reset-in-relay") {
  return (c: ScriptedConnection) => {
    c.send("* OK ready\r\n");
    let seen = 0;
    c.socket.on("data", () => {
      const lines = c.received().split("\r\n").slice(0, -1);
      while (seen < lines.length) {
        const line = lines[seen++]!;
        if (seen === 1 && behaviour === "reset-at-login") return c.socket.resetAndDestroy();
        if (seen === 1 && behaviour === "stall-at-login") return;
        if (seen <= 2) c.send("+ OK\r\n");
        else if (seen === 3) c.send("a1 OK Logged in\r\n");
        else if (behaviour === "reset-in-relay") return c.socket.resetAndDestroy();
        else c.send(`${line.split(" ")[0]} OK NOOP done\r\n`);
      }
    });
  };
}

describe("faults of the auth service and the backend", () => {
  let auth: AuthServer;
  let answer: AuthHandler = () => "close";
  let proxy: RunningProxy;
  const backends: Record<string, ScriptedBackend> = {};
  let refusedPort = 0;
  let deadAuthPort = 0;
  const port = { imap: 0, pop3: 0, smtp: 0, stall: 0, authDown: 0 };
  let baseline: { sockets: string[]; resources: string[] };

  const ports = () => [...Object.values(port), auth.port, ...Object.values(backends).map((b) => b.port)];
  const okTo = (backendPort: number): AuthReply => ({
    headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(backendPort) },
  });

  before(async () => {
    timers.install();
    auth = await startAuthServer((req) => answer(req));
    backends.good = await startScriptedBackend(imapBackend("good"));
    backends.resetAtLogin = await startScriptedBackend(imapBackend("reset-at-login"));
    backends.stallAtLogin = await startScriptedBackend(imapBackend("stall-at-login"));
    backends.resetInRelay = await startScriptedBackend(imapBackend("reset-in-relay"));
    refusedPort = await freePort();
    deadAuthPort = await freePort();
    for (const key of Object.keys(port) as Array<keyof typeof port>) port[key] = await freePort();
    // `timeout 30s` where the fault is not about it, so a timer that outlives its session shows.
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      auth_http_timeout 1s;
      timeout 30s;
      server { listen 127.0.0.1:${port.imap}; protocol imap; }
      server { listen 127.0.0.1:${port.pop3}; protocol pop3; }
      server { listen 127.0.0.1:${port.smtp}; protocol smtp; smtp_auth plain; xclient off; }
      server { listen 127.0.0.1:${port.stall}; protocol imap; timeout 1s; }
      server { listen 127.0.0.1:${port.authDown}; protocol imap; auth_http 127.0.0.1:${deadAuthPort}; }
    }`);
    baseline = await settled();
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    for (const b of Object.values(backends)) await b.close();
    timers.uninstall();
  });

  /** Wait until the proxy is idle: no session, idle auth connections dropped; then what is open. */
  async function settled(): Promise<{ sockets: string[]; resources: string[] }> {
    await eventually(() => proxy.proxy.activeSessions === 0, 10_000);
    auth.closeIdle();
    await eventually(() => openSockets(ports()).every((s) => s.endsWith(" 0A")), 5000);
    await eventually(() => timers.proxyTimers().length === 0, 5000);
    return { sockets: openSockets(ports()), resources: activeResources() };
  }

  async function assertNothingLeaked(): Promise<void> {
    const now = await settled();
    assert.equal(proxy.proxy.activeSessions, 0, "no session left");
    assert.deepEqual(now.sockets, baseline.sockets, "only the listening sockets are open");
    assert.deepEqual(timers.proxyTimers(), [], "no proxy timer outlives its session");
    assert.deepEqual(now.resources, baseline.resources, "the runtime's active handles are back to the baseline");
  }

  async function loginSees(protocol: Protocol, listenPort = port[protocol]): Promise<string> {
    const { greeting, login } = LOGINS[protocol];
    const c = await WireClient.connect(listenPort);
    assert.equal(await c.line(), greeting);
    if (protocol === "smtp") {
      c.send("EHLO client.example\r\n");
      while (!(await c.line()).startsWith("250 ")) {
        // the EHLO reply's continuation lines
      }
    }
    c.send(login);
    return await c.rest(15_000);
  }

  function logHas(text: string): Promise<boolean> {
    return eventually(() => proxy.log().includes(text), 5000);
  }

  for (const protocol of ["imap", "pop3", "smtp"] as const) {
    test(`${protocol.toUpperCase()}: an auth service that hangs past auth_http_timeout gives the internal error line`, async () => {
      answer = () => "hang";
      assert.equal(await loginSees(protocol), LOGINS[protocol].internal);
      assert.ok(await logHas(`auth http server 127.0.0.1:${auth.port} timed out`));
      await assertNothingLeaked();
    });
  }

  test("an auth service that is down gives the internal error line and logs the refused connect", async () => {
    assert.equal(await loginSees("imap", port.authDown), LOGINS.imap.internal);
    assert.ok(await logHas("connect() failed (111: Connection refused)"));
    await assertNothingLeaked();
  });

  test("an auth service answering garbage gives the internal error line and logs the invalid header", async () => {
    answer = () => ({ raw: "\x00\xff\x16garbage\r\n\r\n" });
    assert.equal(await loginSees("imap"), LOGINS.imap.internal);
    assert.ok(await logHas(`auth http server 127.0.0.1:${auth.port} sent invalid header in response`));
    await assertNothingLeaked();
  });

  test("an auth service closing in the middle of its answer gives the internal error line", async () => {
    answer = () => ({ raw: "HTTP/1.1 200 OK\r\nAuth-Status: OK\r\nAuth-Ser" });
    assert.equal(await loginSees("imap"), LOGINS.imap.internal);
    assert.ok(await logHas(`auth http server 127.0.0.1:${auth.port} prematurely closed connection`));
    await assertNothingLeaked();
  });

  test("an auth service dripping its answer slower than auth_http_timeout gives the internal error line", async () => {
    answer = () => ({ raw: `HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: ${backends.good!.port}\r\n\r\n`, dripMs: 100 });
    assert.equal(await loginSees("imap"), LOGINS.imap.internal);
    assert.ok(await logHas(`auth http server 127.0.0.1:${auth.port} timed out`));
    await assertNothingLeaked();
  });

  test("a backend refusing the connection gives the internal error line and logs the refused connect", async () => {
    answer = () => okTo(refusedPort);
    assert.equal(await loginSees("imap"), LOGINS.imap.internal);
    assert.ok(await logHas(`connect() failed (111: Connection refused) while connecting to upstream`));
    await assertNothingLeaked();
  });

  test("a backend resetting the connection at LOGIN gives the internal error line", async () => {
    answer = () => okTo(backends.resetAtLogin!.port);
    assert.equal(await loginSees("imap"), LOGINS.imap.internal);
    assert.ok(await eventually(() => /\[error\].*(recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed connection)/.test(proxy.log())));
    await assertNothingLeaked();
  });

  test("a backend stalling at LOGIN past timeout gives the internal error line and logs the time-out", async () => {
    answer = () => okTo(backends.stallAtLogin!.port);
    assert.equal(await loginSees("imap", port.stall), LOGINS.imap.internal);
    assert.ok(await logHas("upstream timed out (110: Connection timed out)"));
    await assertNothingLeaked();
  });

  test("a backend resetting in the middle of the relay closes the client without a line and logs the session's end", async () => {
    answer = () => okTo(backends.resetInRelay!.port);
    const c = await WireClient.connect(port.imap);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK Logged in");
    c.send("n1 NOOP\r\n");
    assert.equal(await c.rest(), "");
    assert.ok(await eventually(() => /proxied session done \(backend-(error|closed)\)/.test(proxy.log())));
    await assertNothingLeaked();
  });

  test("a login that goes well, for comparison, leaves nothing behind either", async () => {
    answer = () => okTo(backends.good!.port);
    const c = await WireClient.connect(port.imap);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK Logged in");
    c.send("n1 NOOP\r\n");
    assert.equal(await c.line(), "n1 OK NOOP done");
    c.close();
    await assertNothingLeaked();
  });
});
