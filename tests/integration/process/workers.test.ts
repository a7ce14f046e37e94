/**
 * `worker_processes 2` on a real mailproxy (`bun|deno src/main.ts`, and once the
 * compiled dist/mailproxy): both workers serve logins, a worker killed with -9
 * loses only its own sessions and is replaced, HUP starts new workers while a
 * transfer on an old one finishes byte for byte, QUIT drains, `user` and
 * `worker_rlimit_nofile` reach the workers, status_listen shows every worker.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import http from "node:http";
import { spawn } from "node:child_process";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { ensureBinary } from "../../support/binary.ts";
import { freePort } from "../../support/ports.ts";
import { capability, imapBackend, loggedIn, mailproxyCommand, payload, sha256, startChildProxy } from "../../support/child_proxy.ts";
import { tempDir } from "../../support/temp_dir.ts";

const SIZE = 1 << 20;

function config(authUrl: string, port: number, capability: string, extra = "", shutdownTimeout = "1500ms"): string {
  return `daemon off;
worker_processes 2;
pid %PID%;
error_log %LOG% info;
worker_shutdown_timeout ${shutdownTimeout};
${extra}
mail {
  auth_http ${authUrl};
  imap_capabilities IMAP4rev1 ${capability};
  server {
    listen 127.0.0.1:${port};
    protocol imap;
  }
}
`;
}

/** Pids the master started, in order, from its `start worker process PID` lines. */
function startedWorkers(log: string): number[] {
  return [...log.matchAll(/start worker process (\d+)/g)].map((m) => Number(m[1]));
}

/** The pid of the process that logged the last `client logged in`. */
function lastLoginPid(log: string): number {
  const all = [...log.matchAll(/\[info\] (\d+)#0: \*\d+ client logged in/g)];
  return Number(all[all.length - 1]![1]);
}

interface Logs {
  log(): string;
  waitForLog(text: string, n?: number, timeoutMs?: number): Promise<void>;
}

/** Log in again and again until each of `workers` has served at least one; the sessions by worker pid. */
async function sessionsOnEveryWorker(port: number, p: Logs, workers: number[]): Promise<Map<number, WireClient[]>> {
  const byPid = new Map<number, WireClient[]>(workers.map((w) => [w, []]));
  let logins = p.log().split("client logged in").length - 1;
  for (let i = 0; i < 64 && [...byPid.values()].some((s) => s.length === 0); i++) {
    const c = await loggedIn(port);
    await p.waitForLog("client logged in", ++logins);
    const pid = lastLoginPid(p.log());
    assert.ok(byPid.has(pid), `login served by ${pid}, not one of the workers ${workers}`);
    byPid.get(pid)!.push(c);
  }
  return byPid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function get(port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path: urlPath }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => resolve(body));
    }).on("error", reject);
  });
}

describe("worker processes", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;

  before(async () => {
    backend = await imapBackend({ size: SIZE, chunk: 16384, everyMs: 20 });
    auth = await startAuthServer(routeTo(backend.port));
  });

  after(async () => {
    await auth.close();
    await backend.close();
  });

  test("two workers both serve logins, and the master's status_listen shows the numbers of each", async () => {
    const port = await freePort();
    const statusPort = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", `status_listen 127.0.0.1:${statusPort};`), port);
    try {
      const workers = startedWorkers(p.log());
      assert.equal(workers.length, 2);
      assert.equal(fs.readFileSync(p.pidFile, "utf8"), `${p.child.pid}\n`);
      assert.ok(!workers.includes(p.child.pid!));
      assert.match(p.log(), new RegExp(`\\[notice\\] ${p.child.pid}#0: mailproxy started, 2 worker processes\n`));
      const sessions = await sessionsOnEveryWorker(port, p, workers);
      for (const w of workers) assert.ok(sessions.get(w)!.length > 0, `worker ${w} served no login`);
      const metrics = await get(statusPort, "/metrics");
      for (const w of workers) {
        const ok = new RegExp(`^mailproxy_logins_total\\{worker="${w}",[^}]*result="ok"[^}]*\\} (\\d+)$`, "m").exec(metrics);
        assert.equal(Number(ok?.[1]), sessions.get(w)!.length, metrics);
      }
      assert.equal(metrics.split("# TYPE mailproxy_logins_total counter").length, 2);
      const status = JSON.parse(await get(statusPort, "/status")) as { workers: Array<{ pid: number }> };
      assert.deepEqual(status.workers.map((s) => s.pid).sort(), [...workers].sort());
      for (const list of sessions.values()) list.forEach((c) => c.close());
    } finally {
      await p.cleanup();
    }
  });

  test("a worker killed with -9 loses only its own sessions, is logged and replaced, and logins go on", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const [victim, survivor] = startedWorkers(p.log()) as [number, number];
      const sessions = await sessionsOnEveryWorker(port, p, [victim, survivor]);
      process.kill(victim, "SIGKILL");
      await p.waitForLog(`worker process ${victim} exited on signal 9`);
      assert.match(p.log(), new RegExp(`\\[alert\\] ${p.child.pid}#0: worker process ${victim} exited on signal 9\n`));
      await p.waitForLog("start worker process", 3);
      const replacement = startedWorkers(p.log())[2]!;
      assert.ok(alive(replacement));
      for (const lost of sessions.get(victim)!) {
        assert.equal(await lost.rest(), "");
        assert.equal(lost.ended, true);
      }
      for (const [i, kept] of sessions.get(survivor)!.entries()) {
        kept.send(`k${i} NOOP\r\n`);
        assert.equal(await kept.line(), `k${i} OK`);
        kept.close();
      }
      const again = await sessionsOnEveryWorker(port, p, [survivor, replacement]);
      for (const list of again.values()) list.forEach((c) => c.close());
    } finally {
      await p.cleanup();
    }
  });

  test("HUP starts workers on the new config while a transfer on an old worker goes on byte for byte", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "", "30s"), port);
    try {
      const old = startedWorkers(p.log());
      const c = await loggedIn(port);
      c.send("a2 FETCH\r\n");
      const first = await c.bytes(65536);
      p.rewrite(config(auth.url, port, "NEWCAP", "", "30s"));
      p.kill("SIGHUP");
      await p.waitForLog("configuration reloaded");
      const fresh = startedWorkers(p.log()).slice(2);
      assert.equal(fresh.length, 2);
      for (let i = 0; i < 6; i++) assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 NEWCAP AUTH=PLAIN");
      const rest = await c.bytes(SIZE - 65536);
      assert.equal(sha256(first + rest), sha256(payload(SIZE)));
      assert.equal(await c.line(), "a2 OK done");
      c.send("a3 NOOP\r\n");
      assert.equal(await c.line(), "a3 OK");
      c.close();
      for (const w of old) await p.waitForLog(`${w}#0: exit\n`);
      assert.ok(fresh.every(alive));
      assert.equal(fs.readFileSync(p.pidFile, "utf8"), `${p.child.pid}\n`);
    } finally {
      await p.cleanup();
    }
  });

  test("HUPs during sequential logins lose no session, not even one greeted before a HUP that logs in after it", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "", "30s"), port);
    /** Log in (the backend knows tag a1 only) and out on a greeted connection: the replies. */
    const fullSession = async (c: WireClient, tag: string): Promise<string[]> => {
      c.send("a1 LOGIN john secret\r\n");
      const login = await c.line();
      c.send(`${tag} LOGOUT\r\n`);
      const out = [login, await c.line(), await c.line()];
      c.close();
      return out;
    };
    try {
      for (let round = 1; round <= 4; round++) {
        const greetedBefore = await WireClient.connect(port);
        assert.equal(await greetedBefore.line(), "* OK IMAP4 ready");
        p.kill("SIGHUP");
        // logins racing the reload: accepted by old or new workers while the old ones retire
        for (let i = 0; i < 5; i++) {
          const c = await WireClient.connect(port);
          assert.equal(await c.line(), "* OK IMAP4 ready");
          assert.deepEqual(await fullSession(c, `r${round}i${i}`), ["a1 OK logged in", "* BYE", `r${round}i${i} OK`]);
        }
        await p.waitForLog("configuration reloaded", round, 30_000);
        // its worker is retired by now: it speaks for the first time
        assert.deepEqual(await fullSession(greetedBefore, `g${round}`), ["a1 OK logged in", "* BYE", `g${round} OK`]);
      }
    } finally {
      await p.cleanup();
    }
  });

  test("a bad config on HUP is refused, no worker is replaced and the old config keeps serving", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const workers = startedWorkers(p.log());
      p.rewrite(config(auth.url, port, "NEWCAP", "bogus_directive on;"));
      p.kill("SIGHUP");
      await p.waitForLog("keeping the previous configuration");
      assert.match(p.log(), /\[emerg\] \d+#0: unknown directive "bogus_directive" in .*mailproxy\.conf:\d+; keeping the previous configuration/);
      assert.deepEqual(startedWorkers(p.log()), workers);
      assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 OLDCAP AUTH=PLAIN");
    } finally {
      await p.cleanup();
    }
  });

  test("QUIT says BYE before login, lets relayed sessions run until worker_shutdown_timeout, then master and workers exit 0", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const workers = startedWorkers(p.log());
      const relayed = await loggedIn(port);
      const waiting = await WireClient.connect(port);
      assert.equal(await waiting.line(), "* OK IMAP4 ready");
      p.kill("SIGQUIT");
      assert.equal(await waiting.line(), "* BYE Server shutting down");
      relayed.send("a2 NOOP\r\n");
      assert.equal(await relayed.line(), "a2 OK");
      assert.equal(await p.exited, 0);
      await relayed.rest();
      assert.equal(relayed.ended, true);
      for (const w of workers) {
        assert.match(p.log(), new RegExp(`\\[notice\\] ${w}#0: gracefully shutting down\n`));
        assert.match(p.log(), new RegExp(`\\[notice\\] ${w}#0: exit\n`));
        assert.equal(alive(w), false);
      }
      assert.match(p.log(), new RegExp(`\\[notice\\] ${p.child.pid}#0: exit\n$`));
      assert.equal(fs.existsSync(p.pidFile), false);
    } finally {
      await p.cleanup();
    }
  });

  test("USR1 reaches the workers: after a rename their login lines go to the new log file", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const workers = startedWorkers(p.log());
      fs.renameSync(p.logFile, `${p.logFile}.1`);
      p.kill("SIGUSR1");
      // the master says it in the old file, each worker in the new one once it has reopened
      await p.waitForLog("reopening logs", 2);
      assert.deepEqual([...p.log().matchAll(/\[notice\] (\d+)#0: reopening logs/g)].map((m) => Number(m[1])).sort(), [...workers].sort());
      const sessions = await sessionsOnEveryWorker(port, p, workers);
      for (const list of sessions.values()) list.forEach((c) => c.close());
      assert.match(fs.readFileSync(`${p.logFile}.1`, "latin1"), /mailproxy started/);
      assert.doesNotMatch(fs.readFileSync(`${p.logFile}.1`, "latin1"), /client logged in/);
    } finally {
      await p.cleanup();
    }
  });

  test("user and worker_rlimit_nofile apply to the workers, which still serve logins", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "user nobody nogroup;\nworker_rlimit_nofile 2048;"), port);
    try {
      const root = process.getuid?.() === 0;
      for (const w of startedWorkers(p.log())) {
        const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${w}/status`, "utf8"))![1];
        assert.equal(uid, root ? "65534" : String(process.getuid?.()));
        assert.match(fs.readFileSync(`/proc/${w}/limits`, "utf8"), /^Max open files\s+2048\s/m);
      }
      (await loggedIn(port)).close();
      await p.waitForLog("client logged in");
    } finally {
      await p.cleanup();
    }
  });

  test("started as root without a user directive, workers run as nobody and nginx's group for it (nogroup here), the master stays root", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const root = process.getuid?.() === 0;
      const ids = (pid: number, field: string) => /^(\S+):\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith(`${field}:`))!)!.slice(2).join(" ");
      const nogroup = /^nobody:/m.test(fs.readFileSync("/etc/group", "utf8")) ? "nobody" : "nogroup";
      const gid = /^\S+:[^:]*:(\d+):/m.exec(fs.readFileSync("/etc/group", "utf8").split("\n").find((l) => l.startsWith(`${nogroup}:`))!)![1];
      for (const w of startedWorkers(p.log())) {
        assert.equal(ids(w, "Uid"), root ? "65534 65534 65534 65534" : ids(p.child.pid!, "Uid"));
        assert.equal(ids(w, "Gid"), root ? `${gid} ${gid} ${gid} ${gid}` : ids(p.child.pid!, "Gid"));
      }
      assert.equal(ids(p.child.pid!, "Uid"), [0, 0, 0, 0].map(() => process.getuid?.()).join(" "));
      (await loggedIn(port)).close();
      await p.waitForLog("client logged in");
    } finally {
      await p.cleanup();
    }
  });

  test("user without a group takes the group of the same name, as nginx: www-data runs as www-data, nobody fails where no group nobody exists", async () => {
    // premises: privileges are dropped only from root (the suite runs as root, as CI does); Debian names nobody's group nogroup
    assert.equal(process.getuid?.(), 0);
    assert.doesNotMatch(fs.readFileSync("/etc/group", "utf8"), /^nobody:/m);
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "user www-data;"), port);
    try {
      for (const w of startedWorkers(p.log())) {
        const status = fs.readFileSync(`/proc/${w}/status`, "utf8");
        assert.match(status, /^Uid:\s+33\s+33\s+33\s+33$/m);
        assert.match(status, /^Gid:\s+33\s+33\s+33\s+33$/m);
      }
    } finally {
      await p.cleanup();
    }
    const dir = tempDir("mailproxy-user-");
    try {
      const confFile = path.join(dir, "mailproxy.conf");
      const logFile = path.join(dir, "error.log");
      fs.writeFileSync(confFile, config(auth.url, await freePort(), "OLDCAP", "user nobody;").replaceAll("%LOG%", logFile).replaceAll("%PID%", path.join(dir, "pid")));
      const [cmd, ...args] = mailproxyCommand();
      const child = spawn(cmd!, [...args, "-c", confFile], { stdio: "ignore" });
      const code = await new Promise((resolve) => child.on("exit", (c, sig) => resolve(c ?? sig)));
      assert.equal(code, 1);
      assert.match(fs.readFileSync(logFile, "latin1"), /\[emerg\] \d+#0: getgrnam\("nobody"\) failed\n/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("the compiled binary runs two workers that both serve logins and stop on QUIT", async () => {
    const binary = ensureBinary();
    const port = await freePort();
    const dir = tempDir("mailproxy-workers-");
    const logFile = path.join(dir, "error.log");
    const confFile = path.join(dir, "mailproxy.conf");
    fs.writeFileSync(
      confFile,
      config(auth.url, port, "OLDCAP").replaceAll("%LOG%", logFile).replaceAll("%PID%", path.join(dir, "mailproxy.pid")),
    );
    const child = spawn(binary, ["-c", confFile], { stdio: "ignore" });
    const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, sig) => resolve(code ?? sig)));
    const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "latin1") : "");
    const logs: Logs = {
      log,
      async waitForLog(text, n = 1, timeoutMs = 15_000) {
        const deadline = Date.now() + timeoutMs;
        while (log().split(text).length - 1 < n) {
          if (Date.now() > deadline) throw new Error(`log never showed ${JSON.stringify(text)} x${n}:\n${log()}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      },
    };
    try {
      await logs.waitForLog("mailproxy started", 1, 30_000);
      const workers = startedWorkers(log());
      assert.equal(workers.length, 2);
      const sessions = await sessionsOnEveryWorker(port, logs, workers);
      for (const list of sessions.values()) list.forEach((c) => c.close());
      process.kill(child.pid!, "SIGQUIT");
      assert.equal(await exited, 0);
      assert.equal(workers.some(alive), false);
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
