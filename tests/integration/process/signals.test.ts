/**
 * Signals as nginx, on a real mailproxy process (`bun|deno src/main.ts`):
 * HUP reloads without touching sessions in progress, a bad config is refused,
 * USR1 reopens the log, QUIT drains within worker_shutdown_timeout, TERM is
 * fast, and `-s reload|reopen|quit|stop` find the process through the pid file.
 * Each in both shapes of `worker_processes 1`: started as root, a master and one
 * worker; started as nobody, one process.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { spawnSync } from "node:child_process";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import {
  capability,
  type ChildProxy,
  imapBackend,
  loggedIn,
  mailproxyCommand,
  NOBODY,
  payload,
  sha256,
  startChildProxy as startAsRoot,
} from "../../support/child_proxy.ts";

const SIZE = 1 << 20;

/** `shutdownTimeout`: worker_shutdown_timeout, or "" for none. */
function config(authUrl: string, port: number, capability: string, extra = "", shutdownTimeout = "1500ms"): string {
  return `daemon off;
pid %PID%;
error_log %LOG% info;
${shutdownTimeout ? `worker_shutdown_timeout ${shutdownTimeout};` : ""}
mail {
  auth_http ${authUrl};
  imap_capabilities IMAP4rev1 ${capability};
  server {
    listen 127.0.0.1:${port};
    protocol imap;
    ${extra}
  }
}
`;
}

function controlSignal(p: ChildProxy, name: string): { status: number | null; output: string } {
  const [cmd, ...args] = mailproxyCommand();
  const r = spawnSync(cmd!, [...args, "-c", p.confFile, "-s", name], { encoding: "utf8" });
  return { status: r.status, output: r.stdout + r.stderr };
}

// premise: the suite runs as root (as CI does), so both shapes can be started
assert.equal(process.getuid?.(), 0);

for (const shape of ["a master and one worker", "one process"] as const) describe(`signals to ${shape}`, () => {
  const startChildProxy = (configText: string, port: number) =>
    startAsRoot(configText, port, [], shape === "one process" ? NOBODY : undefined);

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

  test("HUP without worker_shutdown_timeout gives new connections the new config while a transfer in progress goes on byte for byte", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "", ""), port);
    try {
      assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 OLDCAP AUTH=PLAIN");
      const c = await loggedIn(port);
      c.send("a2 FETCH\r\n");
      const first = await c.bytes(65536);
      p.rewrite(config(auth.url, port, "NEWCAP", "", ""));
      p.kill("SIGHUP");
      await p.waitForLog("configuration reloaded");
      assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 NEWCAP AUTH=PLAIN");
      const rest = await c.bytes(SIZE - 65536);
      assert.equal(sha256(first + rest), sha256(payload(SIZE)));
      assert.equal(await c.line(), "a2 OK done");
      c.send("a3 NOOP\r\n");
      assert.equal(await c.line(), "a3 OK");
      c.close();
    } finally {
      await p.cleanup();
    }
  });

  test("HUP with worker_shutdown_timeout closes the sessions begun before it once that expires, and only those", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP", "", "1s"), port);
    try {
      const relayed = await loggedIn(port);
      const greeted = await WireClient.connect(port);
      assert.equal(await greeted.line(), "* OK IMAP4 ready");
      p.kill("SIGHUP");
      await p.waitForLog("configuration reloaded");
      const after = await loggedIn(port);
      // closed without a word, as nginx's shutdown timer closes them
      assert.equal(await relayed.rest(), "");
      assert.equal(await greeted.rest(), "");
      after.send("a2 NOOP\r\n");
      assert.equal(await after.line(), "a2 OK");
      after.close();
    } finally {
      await p.cleanup();
    }
  });

  test("a bad config on HUP is refused with the error logged and the old config keeps serving", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      p.rewrite(config(auth.url, port, "NEWCAP", "bogus_directive on;"));
      p.kill("SIGHUP");
      await p.waitForLog("keeping the previous configuration");
      assert.match(p.log(), /\[emerg\] \d+#0: unknown directive "bogus_directive" in .*mailproxy\.conf:\d+; keeping the previous configuration/);
      assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 OLDCAP AUTH=PLAIN");
    } finally {
      await p.cleanup();
    }
  });

  test("USR1 reopens the log: after a rename the new file gets the lines", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      fs.renameSync(p.logFile, `${p.logFile}.1`);
      p.kill("SIGUSR1");
      const deadline = Date.now() + 15_000;
      while (!fs.existsSync(p.logFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      // the master makes the new file; its worker says in it once it writes there too
      if (shape === "a master and one worker") await p.waitForLog("reopening logs");
      (await loggedIn(port)).close();
      await p.waitForLog("client logged in");
      assert.match(fs.readFileSync(`${p.logFile}.1`, "latin1"), /mailproxy started/);
      assert.doesNotMatch(fs.readFileSync(`${p.logFile}.1`, "latin1"), /client logged in/);
    } finally {
      await p.cleanup();
    }
  });

  test("QUIT says BYE before login, lets a relayed session run until worker_shutdown_timeout, then exits 0", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const relayed = await loggedIn(port);
      const waiting = await WireClient.connect(port);
      assert.equal(await waiting.line(), "* OK IMAP4 ready");
      p.kill("SIGQUIT");
      assert.equal(await waiting.line(), "* BYE Server shutting down");
      await p.waitForLog("gracefully shutting down");
      relayed.send("a2 NOOP\r\n");
      assert.equal(await relayed.line(), "a2 OK");
      assert.equal(await p.exited, 0);
      await relayed.rest();
      assert.equal(relayed.ended, true);
      assert.match(p.log(), /\[notice\] \d+#0: exit\n$/);
      assert.equal(fs.existsSync(p.pidFile), false);
    } finally {
      await p.cleanup();
    }
  });

  test("TERM closes relayed sessions at once and exits 0", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      const relayed = await loggedIn(port);
      p.kill("SIGTERM");
      assert.equal(await relayed.rest(), "");
      assert.equal(await p.exited, 0);
      assert.match(p.log(), /\[notice\] \d+#0: exiting\n/);
    } finally {
      await p.cleanup();
    }
  });

  test("-s reload, -s reopen and -s quit reach the process named in the pid file", async () => {
    const port = await freePort();
    const p = await startChildProxy(config(auth.url, port, "OLDCAP"), port);
    try {
      assert.equal(fs.readFileSync(p.pidFile, "utf8"), `${p.child.pid}\n`);
      assert.equal(/start worker process/.test(p.log()), shape === "a master and one worker");
      p.rewrite(config(auth.url, port, "NEWCAP"));
      assert.deepEqual(controlSignal(p, "reload"), { status: 0, output: "" });
      await p.waitForLog("configuration reloaded");
      assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 NEWCAP AUTH=PLAIN");
      assert.equal(controlSignal(p, "reopen").status, 0);
      await p.waitForLog("reopening logs");
      assert.equal(controlSignal(p, "quit").status, 0);
      assert.equal(await p.exited, 0);
    } finally {
      await p.cleanup();
    }
  });
});
