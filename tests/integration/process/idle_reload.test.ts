/**
 * An IMAP session in IDLE across a reload (issue 6: "an IDLE survives a reload
 * untouched"): a real mailproxy (`bun|deno src/main.ts`), single-process and with
 * two workers, in front of the demo IMAP server. The client logs in, starts IDLE,
 * the proxy gets HUP with a new config, new connections see the new config, and
 * then DONE on the old connection reaches the same backend connection and its
 * `OK IDLE terminated` comes back.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { capability, startChildProxy } from "../../support/child_proxy.ts";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";

// No worker_shutdown_timeout: as in nginx, an old worker then waits for its sessions however long they idle.
function config(authUrl: string, port: number, capability: string, workers: number): string {
  return `daemon off;
worker_processes ${workers};
pid %PID%;
error_log %LOG% info;
mail {
  auth_http ${authUrl};
  imap_capabilities IMAP4rev1 IDLE ${capability};
  server {
    listen 127.0.0.1:${port};
    protocol imap;
  }
}
`;
}

describe("IMAP IDLE across a reload", () => {
  let backend: DemoImapServer;
  let auth: AuthServer;

  before(async () => {
    backend = await startDemoImap({ john: { password: "secret", messages: [] } });
    auth = await startAuthServer(routeTo(backend.port));
  });

  after(async () => {
    await auth.close();
    await backend.close();
  });

  for (const workers of [1, 2]) {
    const mode = workers === 1 ? "one process" : "two workers";
    test(`${mode}: a session idling through HUP gets its backend's OK IDLE terminated on DONE after the reload`, async () => {
      const port = await freePort();
      const p = await startChildProxy(config(auth.url, port, "OLDCAP", workers), port);
      try {
        const c = await WireClient.connect(port);
        assert.equal(await c.line(), "* OK IMAP4 ready");
        c.send("a1 LOGIN john secret\r\n");
        assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
        const connection = backend.transcripts.length - 1;
        await p.waitForLog("client logged in");
        const servedBy = Number(/\[info\] (\d+)#0: \*\d+ client logged in/.exec(p.log())![1]);
        c.send("a2 IDLE\r\n");
        assert.equal(await c.line(), "+ idling");

        p.rewrite(config(auth.url, port, "NEWCAP", workers));
        p.kill("SIGHUP");
        await p.waitForLog("configuration reloaded");
        for (let i = 0; i < 2 * workers; i++) {
          assert.equal(await capability(port), "* CAPABILITY IMAP4rev1 IDLE NEWCAP AUTH=PLAIN");
        }

        // The process holding the session is still there (with workers: an old worker, retired but draining).
        process.kill(servedBy, 0);
        c.send("DONE\r\n");
        assert.equal(await c.line(), "a2 OK IDLE terminated");
        c.send("a3 NOOP\r\n");
        assert.equal(await c.line(), "a3 OK NOOP completed");
        // One backend connection carried the whole session, before and after the reload.
        assert.deepEqual(backend.transcripts[connection]!.slice(-3), ["a2 IDLE\r\n", "DONE\r\n", "a3 NOOP\r\n"]);
        c.send("a4 LOGOUT\r\n");
        assert.equal(await c.line(), "* BYE demo logging out");
        assert.equal(await c.line(), "a4 OK LOGOUT completed");
        await c.rest();
        assert.equal(c.ended, true);
        if (workers > 1) await p.waitForLog(`${servedBy}#0: exit\n`);
        assert.doesNotMatch(p.log(), /\[(error|crit|alert|emerg)\]/);
      } finally {
        await p.cleanup();
      }
    });
  }
});
