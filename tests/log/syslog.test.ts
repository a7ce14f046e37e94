/**
 * `error_log syslog:...` and `access_log syslog:...` send RFC 3164 datagrams as
 * nginx does (`<PRI>Mmm dd HH:MM:SS HOSTNAME TAG: line`), over UDP or to a UNIX
 * datagram socket; a wrong target is refused in nginx's words.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { type AuthServer, routeTo, startAuthServer } from "../support/auth_server.ts";
import type { ScriptedBackend } from "../support/scripted_backend.ts";
import { startProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { freePort } from "../support/ports.ts";
import { imapBackend } from "../support/child_proxy.ts";
import { errorOf } from "../support/config.ts";
import { parseSyslogTarget, type SyslogTarget } from "../../src/config/values/syslog_target.ts";
import { tempDir } from "../support/temp_dir.ts";

/** A UDP syslog server on 127.0.0.1: every datagram received, as text. */
async function udpListener(): Promise<{ port: number; received: string[]; next(match: RegExp): Promise<string>; close(): void }> {
  const socket = dgram.createSocket("udp4");
  const received: string[] = [];
  socket.on("message", (m) => received.push(m.toString("latin1")));
  const port = await new Promise<number>((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket.address().port)));
  return {
    port,
    received,
    async next(match) {
      for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 20))) {
        const found = received.find((d) => match.test(d));
        if (found) return found;
      }
      throw new Error(`no datagram matched ${match}: ${JSON.stringify(received)}`);
    },
    close: () => socket.close(),
  };
}

/** `Mmm dd HH:MM:SS` (syslog) and `YYYY/MM/DD HH:MM:SS` (nginx) of the same local time. */
function sameLocalTime(syslogTime: string, logTime: string): boolean {
  const months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
  const [, mon, day, hms] = /^(\w{3}) ([ \d]\d) (\S+)$/.exec(syslogTime)!;
  const [, , m, d, hms2] = /^(\d{4})\/(\d\d)\/(\d\d) (\S+)$/.exec(logTime)!;
  return months.indexOf(mon!) + 1 === Number(m) && Number(day) === Number(d) && hms === hms2;
}

const HOST = os.hostname().toLowerCase();

describe("syslog targets", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;

  before(async () => {
    backend = await imapBackend();
    auth = await startAuthServer(routeTo(backend.port));
  });

  after(async () => {
    await auth.close();
    await backend.close();
  });

  test("error_log syslog:server=127.0.0.1:PORT sends each line as nginx does: local7, the level's severity, hostname, tag nginx", async () => {
    const udp = await udpListener();
    const port = await freePort();
    const cwd = fs.readdirSync(process.cwd());
    const p = await startProxy(`error_log syslog:server=127.0.0.1:${udp.port} info;
mail { auth_http ${auth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`);
    try {
      const c = await WireClient.connect(port);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      c.send("a1 LOGIN john secret\r\n");
      assert.equal(await c.line(), "a1 OK logged in");
      const connected = await udp.next(/client connected/);
      const m = new RegExp(
        `^<190>(\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d) ${HOST} nginx: (\\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d) \\[info\\] ${process.pid}#0: \\*(\\d+) ` +
          `client connected to 127\\.0\\.0\\.1:${port}, client: 127\\.0\\.0\\.1, server: 127\\.0\\.0\\.1:${port}$`,
      ).exec(connected);
      assert.ok(m, connected);
      assert.ok(sameLocalTime(m[1]!, m[2]!), connected);
      const loggedIn = await udp.next(/client logged in/);
      assert.match(loggedIn, new RegExp(`^<190>.* nginx: .* \\[info\\] ${process.pid}#0: \\*${m[3]} client logged in, client: 127\\.0\\.0\\.1, .*login: "john", upstream: 127\\.0\\.0\\.1:${backend.port}$`));
      c.close();
      // not a file named after the target, as before
      assert.deepEqual(fs.readdirSync(process.cwd()), cwd);
    } finally {
      await p.stop();
      udp.close();
    }
  });

  test("facility=, tag= and nohostname shape the header; severity= is ignored by error_log, as in nginx; levels filter per target", async () => {
    const udp = await udpListener();
    const port = await freePort();
    const deadBackend = await freePort();
    const refusedAuth = await startAuthServer(() => ({
      headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(deadBackend) },
    }));
    const p = await startProxy(`error_log syslog:server=127.0.0.1:${udp.port},facility=mail,tag=imap_proxy,nohostname,severity=emerg info;
error_log syslog:server=127.0.0.1:${udp.port},tag=errors_only error;
mail { auth_http ${refusedAuth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`);
    try {
      const c = await WireClient.connect(port);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      c.send("a1 LOGIN john secret\r\n");
      assert.equal(await c.line(), "* BAD internal server error");
      c.close();
      // mail (2) * 8 + info (6), no hostname
      assert.match(await udp.next(/client connected/), /^<22>\w{3} [ \d]\d \d\d:\d\d:\d\d imap_proxy: \d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[info\] \d+#0: \*\d+ client connected to /);
      // the error-level target got the error line (local7 * 8 + error (3)) and nothing before it
      const error = await udp.next(/errors_only/);
      assert.match(error, new RegExp(`^<187>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${HOST} errors_only: .* \\[error\\] \\d+#0: \\*\\d+ connect\\(\\) failed`));
      assert.deepEqual(udp.received.filter((d) => d.includes("errors_only")), [error]);
    } finally {
      await p.stop();
      await refusedAuth.close();
      udp.close();
    }
  });

  test("access_log syslog: sends one line per session with severity info, or the one severity= names", async () => {
    const udp = await udpListener();
    const port = await freePort();
    const p = await startProxy(`access_log syslog:server=127.0.0.1:${udp.port},severity=notice,tag=mailaccess;
mail { auth_http ${auth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`);
    try {
      const c = await WireClient.connect(port);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      c.send("a1 LOGIN john secret\r\n");
      assert.equal(await c.line(), "a1 OK logged in");
      c.close();
      const line = await udp.next(/mailaccess/);
      // local7 (23) * 8 + notice (5)
      assert.match(
        line,
        new RegExp(`^<189>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${HOST} mailaccess: start=\\S+ duration=\\d+\\.\\d{3} client=127\\.0\\.0\\.1 server=127\\.0\\.0\\.1:${port} protocol=imap login="john" upstream=127\\.0\\.0\\.1:${backend.port} bytes_up=\\d+ bytes_down=\\d+ tls=- result=client-closed$`),
      );
    } finally {
      await p.stop();
      udp.close();
    }
  });

  test("error_log syslog:server=unix:PATH sends datagrams to a UNIX datagram socket", async () => {
    const dir = tempDir("mailproxy-syslog-");
    const socketPath = path.join(dir, "log");
    // the receiving end: python, since neither runtime's node:dgram has unix sockets
    const receiver = spawn("python3", [
      "-c",
      "import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind(sys.argv[1])\nprint('ready',flush=True)\n" +
      "while True:\n  d=s.recv(65536)\n  sys.stdout.write(repr(d.decode())+'\\n')\n  sys.stdout.flush()",
      socketPath,
    ]);
    let out = "";
    receiver.stdout.on("data", (d) => (out += d));
    const port = await freePort();
    try {
      for (const deadline = Date.now() + 10_000; !out.includes("ready"); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() > deadline) throw new Error("python receiver did not start");
      }
      const p = await startProxy(`error_log syslog:server=unix:${socketPath} info;
mail { auth_http ${auth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`);
      try {
        const c = await WireClient.connect(port);
        assert.equal(await c.line(), "* OK IMAP4 ready");
        c.close();
        for (const deadline = Date.now() + 10_000; !out.includes("client connected"); await new Promise((r) => setTimeout(r, 20))) {
          if (Date.now() > deadline) throw new Error(`no datagram on ${socketPath}: ${out}`);
        }
        assert.match(out, new RegExp(`^'<190>\\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d ${HOST} nginx: \\d{4}/\\d\\d/\\d\\d \\d\\d:\\d\\d:\\d\\d \\[info\\] ${process.pid}#0: \\*\\d+ client connected to 127\\.0\\.0\\.1:${port}, `, "m"));
      } finally {
        await p.stop();
      }
    } finally {
      receiver.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a bare server gets nginx's defaults: port 514, facility local7, tag nginx, the hostname", () => {
    assert.deepEqual(parseSyslogTarget("syslog:server=127.0.0.1"), {
      server: { host: "127.0.0.1", port: 514 },
      facility: 23,
      tag: "nginx",
      hostname: true,
    });
    assert.deepEqual((parseSyslogTarget("syslog:server=[::1]:5514,nohostname") as SyslogTarget).server, { host: "::1", port: 5514 });
  });

  test("a wrong syslog target is refused with nginx's words and the place", () => {
    const cases: Array<[string, string]> = [
      ["syslog:server=127.0.0.1,bogus=1", 'unknown syslog parameter "bogus=1"'],
      ["syslog:facility=local1", "no syslog server specified"],
      ["syslog:", "no syslog server specified"],
      ["syslog:server=a,server=b", 'duplicate syslog "server"'],
      ["syslog:server=127.0.0.1,facility=local9", 'unknown syslog facility "local9"'],
      ["syslog:server=127.0.0.1,severity=loud", 'unknown syslog severity "loud"'],
      ["syslog:server=127.0.0.1,tag=my-proxy", 'syslog "tag" only allows alphanumeric characters and underscore'],
      [`syslog:server=127.0.0.1,tag=${"t".repeat(33)}`, "syslog tag length exceeds 32"],
      ["syslog:server=127.0.0.1:99999", 'invalid port in syslog server "127.0.0.1:99999"'],
      ["syslog:server=:514", 'no host in syslog server ":514"'],
    ];
    for (const [target, message] of cases) {
      assert.equal(errorOf(`error_log ${target};\nmail { }`), `${message} in /cfg/m.conf:1`);
      assert.equal(errorOf(`\naccess_log ${target};`), `${message} in /cfg/m.conf:2`);
    }
  });
});
