/**
 * Started as root with `worker_processes 1` (the default) and no `user` directive,
 * mailproxy does as nginx: a master that keeps root and one worker that serves clients
 * as nobody (group nobody, else nogroup). The master's root is what lets a HUP re-read
 * a key only root may read and USR1 create the log files anew.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { makeTestCertificate, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { imapBackend, startChildProxy } from "../../support/child_proxy.ts";

function config(authUrl: string, port: number, tlsPort: number, cert: TestCertificate): string {
  return `daemon off;
pid %PID%;
error_log %LOG% info;
mail {
  auth_http ${authUrl};
  server {
    listen 127.0.0.1:${port};
    protocol imap;
  }
  server {
    listen 127.0.0.1:${tlsPort} ssl;
    protocol imap;
    ssl_certificate ${cert.certFile};
    ssl_certificate_key ${cert.keyFile};
  }
}
`;
}

/** The pids holding a listening TCP socket on 127.0.0.1:`port`, found through /proc/net/tcp and /proc/PID/fd. */
function listeningPids(port: number): number[] {
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = new Set(
    fs.readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1).map((l) => l.trim().split(/\s+/))
      .filter((f) => f[1] === local && f[3] === "0A").map((f) => f[9]!),
  );
  const pids: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    const holds = fds.some((fd) => {
      try {
        return inodes.has(/^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1] ?? "");
      } catch {
        return false;
      }
    });
    if (holds) pids.push(Number(pid));
  }
  return pids;
}

/** The four ids (real, effective, saved, filesystem) of a `Uid:` or `Gid:` line of /proc/PID/status. */
function ids(pid: number, field: "Uid" | "Gid"): string {
  return new RegExp(`^${field}:\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)\\s+(\\d+)$`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))!
    .slice(1).join(" ");
}

/** An IMAPS login that trusts only `ca`: it succeeds only if the proxy presents the certificate `ca` signed. */
async function loginOverTls(port: number, ca: string): Promise<string> {
  const c = await WireClient.connectTls(port, { ca, rejectUnauthorized: true, servername: "localhost" });
  assert.equal(await c.line(), "* OK IMAP4 ready");
  c.send("a1 LOGIN john secret\r\n");
  const reply = await c.line();
  c.close();
  return reply;
}

describe("started as root with one worker and no user directive", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  const certs: TestCertificate[] = [];

  before(async () => {
    // premise: the suite runs as root (as CI does); Debian names nobody's group nogroup
    assert.equal(process.getuid?.(), 0);
    backend = await imapBackend();
    auth = await startAuthServer(routeTo(backend.port));
  });

  after(async () => {
    await auth.close();
    await backend.close();
    for (const c of certs) c.remove();
  });

  test("the process accepting clients runs as nobody, a HUP re-reads a changed root-only key, and USR1 reopens the logs", async () => {
    const [port, tlsPort] = [await freePort(), await freePort()];
    const first = makeTestCertificate();
    const second = makeTestCertificate();
    certs.push(first, second);
    for (const file of [first.keyFile, second.keyFile]) fs.chmodSync(file, 0o600);
    const nogroup = /^nobody:/m.test(fs.readFileSync("/etc/group", "utf8")) ? "nobody" : "nogroup";
    const gid = new RegExp(`^${nogroup}:[^:]*:(\\d+):`, "m").exec(fs.readFileSync("/etc/group", "utf8"))![1];
    const p = await startChildProxy(config(auth.url, port, tlsPort, first), port);
    try {
      const [worker] = listeningPids(port);
      assert.deepEqual(listeningPids(port), [worker]);
      assert.notEqual(worker, p.child.pid);
      assert.equal(ids(worker!, "Uid"), "65534 65534 65534 65534");
      assert.equal(ids(worker!, "Gid"), `${gid} ${gid} ${gid} ${gid}`);
      assert.equal(ids(p.child.pid!, "Uid"), "0 0 0 0");
      assert.equal(await loginOverTls(tlsPort, first.ca), "a1 OK logged in");

      // the new key is as unreadable to nobody as the old one
      fs.copyFileSync(second.certFile, first.certFile);
      fs.copyFileSync(second.keyFile, first.keyFile);
      assert.equal(fs.statSync(first.keyFile).mode & 0o777, 0o600);
      p.kill("SIGHUP");
      await p.waitForLog("configuration reloaded");
      assert.doesNotMatch(p.log(), /\[(emerg|alert|crit)\]/);
      assert.equal(await loginOverTls(tlsPort, second.ca), "a1 OK logged in");
      const [fresh] = listeningPids(tlsPort);
      assert.notEqual(fresh, worker);
      assert.equal(ids(fresh!, "Uid"), "65534 65534 65534 65534");

      fs.renameSync(p.logFile, `${p.logFile}.1`);
      p.kill("SIGUSR1");
      // the worker says so in the new file, which the master made and gave to nobody
      await p.waitForLog(`${fresh}#0: reopening logs`);
      assert.equal(fs.statSync(p.logFile).uid, 65534);
      const c = await WireClient.connect(port);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      c.send("a1 LOGIN john secret\r\n");
      assert.equal(await c.line(), "a1 OK logged in");
      c.close();
      const plainLogin = `client logged in, client: 127.0.0.1, server: 127.0.0.1:${port},`;
      await p.waitForLog(plainLogin);
      assert.doesNotMatch(fs.readFileSync(`${p.logFile}.1`, "latin1"), new RegExp(plainLogin));
    } finally {
      await p.cleanup();
    }
  });
});
