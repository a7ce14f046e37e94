/**
 * Login abuse protection through running proxies (real sockets): limit_login
 * tripping and recovering after its window with the auth service not asked while
 * tripped, limit_conn, and the counts shared by two MailProxy instances through a
 * real redis-server (and failing open when the store is down).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort } from "../../support/ports.ts";
import { startRedis, type RedisServer } from "../../support/redis_server.ts";
import { RespClient } from "../../../src/auth/redis.ts";

const TOO_MANY = "[UNAVAILABLE] Too many login failures, try again later";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** An IMAP backend that accepts any LOGIN. */
function imapBackend(): Promise<ScriptedBackend> {
  return startScriptedBackend((b) => {
    b.send("* OK backend ready\r\n");
    b.socket.on("data", () => {
      const got = b.received();
      if (got.endsWith("}\r\n")) b.send("+ OK\r\n");
      else if (got.endsWith("\r\n") && !got.endsWith("}\r\n")) b.send("a1 OK logged in\r\n");
    });
  });
}

async function imapProxy(authUrl: string, inServer: string): Promise<{ proxy: RunningProxy; port: number }> {
  const port = await freePort();
  const proxy = await startProxy(`mail {
    auth_http ${authUrl};
    server {
      listen 127.0.0.1:${port};
      protocol imap;
      ${inServer}
    }
  }`);
  return { proxy, port };
}

/** One LOGIN on a new connection; the answer line. */
async function login(port: number, user: string, pass: string): Promise<string> {
  const c = await WireClient.connect(port);
  try {
    await c.line();
    c.send(`a1 LOGIN ${user} ${pass}\r\n`);
    return await c.line();
  } finally {
    c.close();
  }
}

describe("limit_login in memory", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await imapBackend();
    auth = await startAuthServer(defaultAuthHandler({ john: { password: "right", backend: { host: "127.0.0.1", port: backend.port } } }));
    setup = await imapProxy(auth.url, "limit_login zone=mem per_ip=2 window=1500ms delay=100ms;");
  });
  after(async () => {
    await setup.proxy.stop();
    await auth.close();
    await backend.close();
  });

  test("trips after per_ip failures without asking the auth service, and recovers after the window", async () => {
    assert.equal(await login(setup.port, "john", "wrong"), "a1 NO Invalid login or password");
    assert.equal(await login(setup.port, "john", "wrong"), "a1 NO Invalid login or password");
    const asked = auth.requests.length;
    // Even the right password is refused while tripped; the connection stays usable (delay, like Auth-Wait).
    const c = await WireClient.connect(setup.port);
    await c.line();
    c.send("a1 LOGIN john right\r\n");
    assert.equal(await c.line(), `a1 NO ${TOO_MANY}`);
    c.send("a2 NOOP\r\n");
    assert.equal(await c.line(), "a2 OK completed");
    c.close();
    assert.equal(auth.requests.length, asked);
    assert.match(setup.proxy.log(), /\[warn\] .*login limit of zone "mem" reached \(2 failures per client IP\), auth not asked/);

    await sleep(1600);
    assert.equal(await login(setup.port, "john", "right"), "a1 OK logged in");
    assert.equal(auth.requests.length, asked + 1);
  });
});

describe("limit_conn", () => {
  let auth: AuthServer;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    auth = await startAuthServer(defaultAuthHandler({}));
    setup = await imapProxy(auth.url, "limit_conn per_ip=2;");
  });
  after(async () => {
    await setup.proxy.stop();
    await auth.close();
  });

  test("a client over per_ip gets * BYE and is closed; a freed place is taken again", async () => {
    const a = await WireClient.connect(setup.port);
    const b = await WireClient.connect(setup.port);
    assert.equal(await a.line(), "* OK IMAP4 ready");
    assert.equal(await b.line(), "* OK IMAP4 ready");
    const c = await WireClient.connect(setup.port);
    assert.equal(await c.rest(), "* BYE Too many connections\r\n");
    a.send("x LOGOUT\r\n");
    await a.rest();
    // The place is given back when the proxy sees the close, which may come just after ours.
    let greeting = "";
    for (let i = 0; i < 40 && greeting !== "* OK IMAP4 ready"; i++) {
      const d = await WireClient.connect(setup.port);
      greeting = await d.line().catch(() => "");
      d.close();
      if (greeting !== "* OK IMAP4 ready") await sleep(50);
    }
    assert.equal(greeting, "* OK IMAP4 ready");
    b.close();
    assert.match(setup.proxy.log(), /\[warn\] .*limit_conn per_ip=2 reached, connection refused/);
  });
});

describe("limit_login shared through redis-server", () => {
  let redis: RedisServer;
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let first: { proxy: RunningProxy; port: number };
  let second: { proxy: RunningProxy; port: number };

  before(async () => {
    redis = await startRedis();
    backend = await imapBackend();
    auth = await startAuthServer(defaultAuthHandler({ john: { password: "right", backend: { host: "127.0.0.1", port: backend.port } } }));
    const limits = `limit_login zone=fleet per_user=3 window=2s delay=100ms; limit_store ${redis.url};`;
    first = await imapProxy(auth.url, limits);
    second = await imapProxy(auth.url, limits);
  });
  after(async () => {
    await first.proxy.stop();
    await second.proxy.stop();
    await auth.close();
    await backend.close();
    await redis.stop();
  });

  test("failures on one instance trip the other, and both recover when redis expires the window", async () => {
    assert.equal(await login(first.port, "john", "wrong1"), "a1 NO Invalid login or password");
    assert.equal(await login(second.port, "JOHN", "wrong2"), "a1 NO Invalid login or password");
    assert.equal(await login(first.port, "john", "wrong3"), "a1 NO Invalid login or password");
    const asked = auth.requests.length;
    assert.equal(await login(second.port, "john", "right"), `a1 NO ${TOO_MANY}`);
    assert.equal(await login(first.port, "john", "right"), `a1 NO ${TOO_MANY}`);
    assert.equal(auth.requests.length, asked);

    // The count is in redis, under a key that does not show the user name.
    const client = new RespClient({ host: "127.0.0.1", port: redis.port, timeoutMs: 1000 });
    const [keys] = await client.pipeline([["KEYS", "mailproxy:limit_login:fleet:*"]]);
    assert.equal((keys as string[]).length, 1);
    assert.match((keys as string[])[0]!, /^mailproxy:limit_login:fleet:user:[0-9a-f]{32}$/);
    const [count, ttl] = await client.pipeline([["GET", (keys as string[])[0]!], ["PTTL", (keys as string[])[0]!]]);
    assert.equal(count, "3");
    assert.ok(typeof ttl === "number" && ttl > 0 && ttl <= 2000);
    client.close();

    await sleep(2100);
    assert.equal(await login(second.port, "john", "right"), "a1 OK logged in");
    assert.equal(auth.requests.length, asked + 1);
  });
});

describe("limit_store down", () => {
  test("logins go ahead (fail open) and the error log says the limits are not enforced", async () => {
    const backend = await imapBackend();
    const auth = await startAuthServer(defaultAuthHandler({ john: { password: "right", backend: { host: "127.0.0.1", port: backend.port } } }));
    const dead = await freePort();
    const setup = await imapProxy(auth.url, `limit_login zone=z per_ip=1 window=1m delay=100ms; limit_store redis://127.0.0.1:${dead};`);
    try {
      assert.equal(await login(setup.port, "john", "wrong"), "a1 NO Invalid login or password");
      assert.equal(await login(setup.port, "john", "right"), "a1 OK logged in");
      assert.equal(auth.requests.length, 2);
      const errors = setup.proxy.log().split("\n").filter((l) => l.includes("limit_store"));
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, new RegExp(`\\[error\\] .*limit_store redis://127\\.0\\.0\\.1:${dead} failed \\(.*ECONNREFUSED.*\\), login limits not enforced`));
    } finally {
      await setup.proxy.stop();
      await auth.close();
      await backend.close();
    }
  });
});
