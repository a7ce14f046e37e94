/**
 * `daemon on` on a real mailproxy (`bun|deno src/main.ts`): the command returns
 * at once with 0, a detached process serves and writes the pid file, and
 * `mailproxy -s stop` (through that pid file) ends it, workers included.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { waitForPort } from "../../support/binary.ts";
import { freePort } from "../../support/ports.ts";
import { imapBackend, mailproxyCommand } from "../../support/child_proxy.ts";
import { tempDir } from "../../support/temp_dir.ts";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, timeoutMs = 15_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; !check();) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("daemon on", () => {
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

  for (const workers of [1, 2]) {
    test(`with worker_processes ${workers} the command exits 0, a detached process serves logins, and -s stop ends it`, async () => {
      const port = await freePort();
      const dir = tempDir("mailproxy-daemon-");
      const logFile = path.join(dir, "error.log");
      const pidFile = path.join(dir, "mailproxy.pid");
      const confFile = path.join(dir, "mailproxy.conf");
      fs.writeFileSync(confFile, `daemon on;
worker_processes ${workers};
pid ${pidFile};
error_log ${logFile} info;
mail {
  auth_http ${auth.url};
  server {
    listen 127.0.0.1:${port};
    protocol imap;
  }
}
`);
      const [cmd, ...args] = mailproxyCommand();
      const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "latin1") : "");
      let daemonPid = 0;
      try {
        const child = spawn(cmd!, [...args, "-c", confFile], { stdio: "ignore" });
        const code = await new Promise<number | string | null>((resolve) => child.on("exit", (c, s) => resolve(c ?? s)));
        assert.equal(code, 0);
        await until("the log says mailproxy started", () => /mailproxy started/.test(log()), 30_000);
        await waitForPort(port);
        daemonPid = Number(fs.readFileSync(pidFile, "utf8"));
        assert.equal(fs.readFileSync(pidFile, "utf8"), `${daemonPid}\n`);
        assert.notEqual(daemonPid, child.pid);
        assert.equal(alive(daemonPid), true);
        const started = [...log().matchAll(/start worker process (\d+)/g)].map((m) => Number(m[1]));
        // started as root, even one worker has a master, so that the process serving clients is not root
        const root = process.getuid?.() === 0;
        assert.equal(started.length, workers === 1 && !root ? 0 : workers);

        const c = await WireClient.connect(port);
        assert.equal(await c.line(), "* OK IMAP4 ready");
        c.send("a1 LOGIN john secret\r\n");
        assert.equal(await c.line(), "a1 OK logged in");
        c.close();

        const stop = spawnSync(cmd!, [...args, "-c", confFile, "-s", "stop"], { encoding: "utf8" });
        assert.deepEqual({ status: stop.status, output: stop.stdout + stop.stderr }, { status: 0, output: "" });
        await until("the daemon is gone", () => !alive(daemonPid));
        assert.equal(started.some(alive), false);
        assert.equal(fs.existsSync(pidFile), false);
        assert.match(log(), new RegExp(`\\[notice\\] ${daemonPid}#0: exit\n$`));
      } finally {
        if (daemonPid && alive(daemonPid)) process.kill(daemonPid, "SIGKILL");
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
