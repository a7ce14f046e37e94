/**
 * auth_http_cache and several auth_http URLs with a real mailproxy: the cache
 * is visible in what the auth service receives (no request on a hit), and a
 * first URL that is down is skipped.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort } from "../../support/ports.ts";
import { type AuthReply, type AuthServer, startAuthServer } from "../../support/auth_server.ts";
import { metrics } from "../../../src/metrics/mail_metrics.ts";

describe("auth_http_cache with a dead first auth_http URL", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let proxy: RunningProxy;
  let port: number;

  before(async () => {
    backend = await startScriptedBackend((c) => {
      c.send("* OK backend\r\n");
      c.socket.on("data", (d: Buffer) => {
        const text = d.toString("latin1");
        if (/\{\d+\}\r\n$/.test(text)) c.send("+ OK\r\n");
        else if (text.endsWith("\r\n")) c.send("a1 OK logged in\r\n");
      });
    });
    auth = await startAuthServer((req): AuthReply =>
      req.pass === "secret"
        ? { headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(backend.port), "Auth-Pass": "backend-pw" } }
        : { headers: { "Auth-Status": "Invalid login" } }
    );
    port = await freePort();
    proxy = await startProxy(`mail {
      auth_http 127.0.0.1:${await freePort()}/down ${auth.url};
      auth_http_cache valid=30s max=100;
      server { listen 127.0.0.1:${port}; protocol imap; }
    }`);
  });
  after(async () => {
    await proxy.stop();
    await auth.close();
    await backend.close();
  });

  async function login(user: string, pass: string): Promise<string> {
    const c = await WireClient.connect(port);
    await c.line();
    c.send(`a1 LOGIN ${user} ${pass}\r\n`);
    const line = await c.line();
    c.close();
    return line;
  }

  test("the second identical login costs no auth request; the backend still gets the cached Auth-Pass", async () => {
    const labels = { server: `127.0.0.1:${port}`, protocol: "imap" };
    assert.equal(await login("john", "secret"), "a1 OK logged in");
    assert.equal(auth.requests.length, 1);
    assert.equal(metrics.authCacheMisses.value(labels), 1);
    assert.equal(await login("john", "secret"), "a1 OK logged in");
    assert.equal(auth.requests.length, 1);
    assert.equal(metrics.authCacheHits.value(labels), 1);
    const last = backend.connections[backend.connections.length - 1]!;
    await last.waitFor("backend-pw\r\n");
    assert.equal(last.received(), "a1 LOGIN {4}\r\njohn {10}\r\nbackend-pw\r\n");
  });

  test("a refusal is not cached and another password is asked again", async () => {
    const before = auth.requests.length;
    assert.equal(await login("john", "wrong"), "a1 NO Invalid login");
    assert.equal(await login("john", "wrong"), "a1 NO Invalid login");
    assert.equal(auth.requests.length, before + 2);
  });

  test("the dead first URL is logged and never stops a login", () => {
    assert.match(proxy.log(), /connect\(\) failed \(111: Connection refused\) while in http auth state/);
    assert.equal(proxy.log().includes("secret"), false);
  });
});
