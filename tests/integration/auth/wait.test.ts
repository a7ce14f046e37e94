/**
 * `Auth-Status: WAIT` against clients that leave (issue 13, item 6): the
 * re-query loop ends with the client, and a WAIT without a usable Auth-Wait
 * is asked again after a second, not in a hot loop.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, startAuthServer } from "../../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { eventually } from "../../support/resources.ts";

/** How long the auth service is watched for requests nobody should send any more. */
const WINDOW_MS = 2500;

const logins = [
  { protocol: "imap", greeting: "* OK IMAP4 ready", login: "a1 LOGIN alice secret\r\n" },
  { protocol: "pop3", greeting: "+OK POP3 ready", login: "USER alice\r\nPASS secret\r\n" },
  { protocol: "smtp", greeting: "220 mx.example.com ESMTP ready", login: "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" },
] as const;

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("WAIT answers and clients that leave", () => {
  let auth: AuthServer;
  let proxy: RunningProxy;
  /** The Auth-Wait the fixture sends with WAIT, by user: absent for "nowait". */
  const ports = { imap: 0, pop3: 0, smtp: 0 };
  let authWait: string | undefined;

  before(async () => {
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "WAIT", ...(authWait === undefined ? {} : { "Auth-Wait": authWait }) } }));
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      server { listen 127.0.0.1:${ports.imap}; protocol imap; }
      server { listen 127.0.0.1:${ports.pop3}; protocol pop3; }
      server { listen 127.0.0.1:${ports.smtp}; protocol smtp; smtp_auth plain; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
  });

  /** Each protocol's client logs in (10 of each) and leaves once its first request reached the auth service. */
  async function loginAndLeave(): Promise<void> {
    const before = auth.requests.length;
    const clients = await Promise.all(logins.flatMap(({ protocol, greeting, login }) =>
      Array.from({ length: 10 }, async () => {
        const c = await WireClient.connect(ports[protocol]);
        assert.equal(await c.line(), greeting);
        c.send(login);
        return c;
      })
    ));
    assert.ok(await eventually(() => auth.requests.length >= before + clients.length, 10_000), "every login asked the auth service");
    for (const c of clients) c.close();
  }

  test("after clients that sent a login under WAIT have left, the auth service gets no further request", async () => {
    authWait = "1";
    await loginAndLeave();
    // The sessions end with their clients (a request already on its way may still arrive).
    await eventually(() => proxy.proxy.activeSessions === 0, 5000);
    await pause(200);
    const settled = auth.requests.length;
    await pause(WINDOW_MS);
    assert.equal(auth.requests.length - settled, 0, "requests after the clients left");
    assert.equal(proxy.proxy.activeSessions, 0);
  });

  test("WAIT with Auth-Wait 0 or none is asked again after a second, not at once", async () => {
    for (const wait of ["0", undefined]) {
      authWait = wait;
      const c = await WireClient.connect(ports.imap);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      const before = auth.requests.length;
      c.send("a1 LOGIN alice secret\r\n");
      await pause(WINDOW_MS);
      const asked = auth.requests.length - before;
      c.close();
      // one at once, then one a second
      assert.ok(asked >= 1 && asked <= 1 + Math.ceil(WINDOW_MS / 1000), `${asked} requests in ${WINDOW_MS} ms with Auth-Wait ${wait}`);
    }
    await eventually(() => proxy.proxy.activeSessions === 0, 5000);
  });

  test("a client sending more than 64 KiB behind its login while the auth service decides is closed and logged", async () => {
    authWait = "1";
    const c = await WireClient.connect(ports.imap);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    const before = auth.requests.length;
    c.send("a1 LOGIN alice secret\r\n");
    assert.ok(await eventually(() => auth.requests.length > before, 5000));
    c.send("x".repeat(65 * 1024));
    assert.equal(await c.rest(), "");
    assert.ok(await eventually(() => proxy.log().includes("client sent too much data while in http auth state")));
    assert.ok(await eventually(() => proxy.proxy.activeSessions === 0, 5000));
  });
});
