/**
 * `error_log` in `mail { }` and `server { }`, as nginx: a server's sessions log to
 * its own list (inherited from `mail { }` unless the server has one), which
 * replaces the top-level log for them; several destinations, each with its level.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type AuthServer, routeTo, startAuthServer } from "../support/auth_server.ts";
import type { ScriptedBackend } from "../support/scripted_backend.ts";
import { startProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { freePort } from "../support/ports.ts";
import { imapBackend } from "../support/child_proxy.ts";
import { tempDir } from "../support/temp_dir.ts";

function read(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, "latin1") : "";
}

async function waitFor(file: string, text: string): Promise<void> {
  for (const deadline = Date.now() + 10_000; !read(file).includes(text); await new Promise((r) => setTimeout(r, 20))) {
    if (Date.now() > deadline) throw new Error(`${file} never showed ${JSON.stringify(text)}:\n${read(file)}`);
  }
}

describe("error_log in mail and server blocks", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let deadAuth: AuthServer;
  let dir: string;

  before(async () => {
    backend = await imapBackend();
    auth = await startAuthServer(routeTo(backend.port));
    const deadPort = await freePort();
    deadAuth = await startAuthServer(() => ({
      headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(deadPort) },
    }));
    dir = tempDir("mailproxy-server-log-");
  });

  after(async () => {
    await auth.close();
    await deadAuth.close();
    await backend.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("sessions log to their server's own destinations, each filtered by its level, and not to the top-level log", async () => {
    const [inherits, own] = [await freePort(), await freePort()];
    const mailLog = path.join(dir, "mail.log");
    const warnLog = path.join(dir, "server-warn.log");
    const infoLog = path.join(dir, "server-info.log");
    const p = await startProxy(`mail {
  error_log ${mailLog} info;
  server { listen 127.0.0.1:${inherits}; protocol imap; auth_http ${auth.url}; }
  server {
    listen 127.0.0.1:${own}; protocol imap; auth_http ${deadAuth.url};
    error_log ${warnLog} warn;
    error_log ${infoLog} info;
  }
}`);
    try {
      const a = await WireClient.connect(inherits);
      assert.equal(await a.line(), "* OK IMAP4 ready");
      a.send("a1 LOGIN john secret\r\n");
      assert.equal(await a.line(), "a1 OK logged in");
      a.close();
      await waitFor(mailLog, "client logged in");

      const b = await WireClient.connect(own);
      assert.equal(await b.line(), "* OK IMAP4 ready");
      b.send("a1 LOGIN john secret\r\n");
      assert.equal(await b.line(), "* BAD internal server error");
      b.close();
      await waitFor(infoLog, "connect() failed");

      assert.match(read(mailLog), new RegExp(`\\[info\\] ${process.pid}#0: \\*\\d+ client connected to 127\\.0\\.0\\.1:${inherits}, `));
      assert.doesNotMatch(read(mailLog), new RegExp(`:${own}`));
      // info and error lines in the info destination, the error line alone in the warn one
      assert.match(read(infoLog), new RegExp(`\\[info\\] ${process.pid}#0: \\*\\d+ client connected to 127\\.0\\.0\\.1:${own}, `));
      const errorLine = /^.*\[error\] .*connect\(\) failed.*\n/m.exec(read(infoLog))![0];
      assert.equal(read(warnLog), errorLine);
      // the top-level log (debug) got none of these sessions' lines
      assert.doesNotMatch(p.log(), /client connected|client logged in|connect\(\) failed/);
    } finally {
      await p.stop();
    }
  });

  test("USR1 reopens a server's own log: after a rename its lines go to a new file", async () => {
    const port = await freePort();
    const serverLog = path.join(dir, "reopen.log");
    const p = await startProxy(`mail { server { listen 127.0.0.1:${port}; protocol imap; auth_http ${auth.url}; error_log ${serverLog} info; } }`);
    try {
      const first = await WireClient.connect(port);
      assert.equal(await first.line(), "* OK IMAP4 ready");
      await waitFor(serverLog, "client connected");
      fs.renameSync(serverLog, `${serverLog}.1`);
      p.proxy.reopenLogs();
      first.close();
      const second = await WireClient.connect(port);
      assert.equal(await second.line(), "* OK IMAP4 ready");
      second.close();
      await waitFor(serverLog, "client connected");
      assert.equal(read(serverLog).split("client connected").length - 1, 1);
      assert.equal(read(`${serverLog}.1`).split("client connected").length - 1, 1);
    } finally {
      await p.stop();
    }
  });
});
