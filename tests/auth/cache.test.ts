import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { CachingAuth } from "../../src/auth/cache.ts";
import { MultiUrlAuth } from "../../src/auth/multi_url.ts";
import { AuthHttpClient } from "../../src/auth/auth_http.ts";
import type { AuthRequest, AuthResult, AuthSource } from "../../src/auth/types.ts";
import { startAuthServer } from "../support/auth_server.ts";
import { freePort } from "../support/ports.ts";
import { parseAuthHttpUrl } from "../../src/config/values/urls.ts";

/** An auth source that counts the requests it really answers. */
class CountingSource implements AuthSource {
  asked: AuthRequest[] = [];
  constructor(private readonly answer: (req: AuthRequest) => AuthResult) {}
  authenticate(request: AuthRequest): Promise<AuthResult> {
    this.asked.push(request);
    return Promise.resolve(this.answer(request));
  }
  close(): void {}
}

const request = (user: string, pass: string, extra: Partial<AuthRequest> = {}): AuthRequest => ({
  protocol: "imap",
  credentials: { method: "plain", user, pass },
  attempt: 1,
  clientIp: "192.0.2.7",
  ...extra,
});

const ok = (): AuthResult => ({ type: "ok", server: "127.0.0.1", port: 1143 });

describe("auth_http_cache", () => {
  test("a second identical login is answered from the cache; other credentials, addresses or protocols are asked", async () => {
    const source = new CountingSource(ok);
    const lookups: boolean[] = [];
    const cache = new CachingAuth(source, { validMs: 30_000, max: 10, onLookup: (hit) => lookups.push(hit) });
    assert.deepEqual(await cache.authenticate(request("john", "secret")), ok());
    assert.deepEqual(await cache.authenticate(request("john", "secret")), ok());
    await cache.authenticate(request("john", "other"));
    await cache.authenticate(request("john", "secret", { clientIp: "192.0.2.8" }));
    await cache.authenticate(request("john", "secret", { protocol: "pop3" }));
    assert.equal(source.asked.length, 4);
    assert.deepEqual(lookups, [false, true, false, false, false]);
  });

  test("refusals, internal errors and passthrough answers are never cached", async () => {
    const answers: AuthResult[] = [
      { type: "error", text: "Invalid login", wait: 0 },
      { type: "internal", reason: "down" },
      { type: "ok", server: "127.0.0.1", port: 1, backendDecides: true },
    ];
    for (const answer of answers) {
      const source = new CountingSource(() => answer);
      const cache = new CachingAuth(source, { validMs: 30_000, max: 10 });
      await cache.authenticate(request("john", "secret"));
      await cache.authenticate(request("john", "secret"));
      assert.equal(source.asked.length, 2, answer.type);
    }
  });

  test("APOP, CRAM-MD5, EXTERNAL and SMTP none always go to the auth service", async () => {
    const source = new CountingSource(ok);
    const cache = new CachingAuth(source, { validMs: 30_000, max: 10 });
    for (const method of ["apop", "cram-md5", "external", "none"] as const) {
      const req: AuthRequest = { ...request("john", "x"), credentials: { method, user: "john", pass: "x", salt: "<1.2@h>" } };
      await cache.authenticate(req);
      await cache.authenticate(req);
    }
    assert.equal(source.asked.length, 8);
    assert.equal(cache.entries.size, 0);
  });

  test("an answer expires after valid", async () => {
    let now = 1_000_000;
    const source = new CountingSource(ok);
    const cache = new CachingAuth(source, { validMs: 30_000, max: 10, now: () => now });
    await cache.authenticate(request("john", "secret"));
    now += 29_999;
    await cache.authenticate(request("john", "secret"));
    assert.equal(source.asked.length, 1);
    now += 1;
    await cache.authenticate(request("john", "secret"));
    assert.equal(source.asked.length, 2);
  });

  test("max bounds the entries and the least recently used goes first", async () => {
    const source = new CountingSource(ok);
    const cache = new CachingAuth(source, { validMs: 30_000, max: 2 });
    await cache.authenticate(request("a", "1"));
    await cache.authenticate(request("b", "2"));
    await cache.authenticate(request("a", "1")); // hit: a is now the most recent
    await cache.authenticate(request("c", "3")); // drops b
    assert.equal(cache.entries.size, 2);
    assert.equal(source.asked.length, 3);
    await cache.authenticate(request("a", "1"));
    assert.equal(source.asked.length, 3);
    await cache.authenticate(request("b", "2"));
    assert.equal(source.asked.length, 4);
  });

  test("the cache holds no password, token or Auth-Pass bytes, and a hit still returns the Auth-Pass", async () => {
    const answer: AuthResult = { type: "ok", server: "127.0.0.1", port: 1143, user: "john@backend", pass: "BackendPass-42" };
    const source = new CountingSource(() => answer);
    const cache = new CachingAuth(source, { validMs: 30_000, max: 10 });
    const oauth: AuthRequest = {
      ...request("me@x", "ya29.TokenBytes"),
      credentials: { method: "xoauth2", user: "me@x", pass: "ya29.TokenBytes", oauth: { mechanism: "XOAUTH2", payload: "user=me@x\x01auth=Bearer ya29.TokenBytes\x01\x01" } },
    };
    await cache.authenticate(request("john", "ClientSecret-17"));
    await cache.authenticate(oauth);
    assert.deepEqual(await cache.authenticate(request("john", "ClientSecret-17")), answer);
    assert.equal(source.asked.length, 2);

    // Everything the cache holds, keys and values, buffers as bytes.
    const dump = [...cache.entries].map(([key, entry]) =>
      key + JSON.stringify(entry, (_k, v) => (v && v.type === "Buffer" ? Buffer.from(v.data).toString("latin1") : v))
    ).join("\n");
    for (const secret of ["ClientSecret-17", "ya29.TokenBytes", "BackendPass-42"]) {
      assert.equal(dump.includes(secret), false, secret);
      assert.equal(dump.includes(Buffer.from(secret).toString("base64")), false, secret);
      assert.equal(dump.includes(Buffer.from(secret).toString("hex")), false, secret);
    }
    assert.ok(dump.includes("john@backend"), "the Auth-User override is kept");
  });
});

describe("auth_http with several URLs", () => {
  test("a refused first URL is skipped; the answer comes from the second", async () => {
    const auth = await startAuthServer(() => ({ headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": "1143" } }));
    try {
      const dead = parseAuthHttpUrl(`127.0.0.1:${await freePort()}/auth`);
      const first = new AuthHttpClient({ url: dead, headers: [], timeoutMs: 5000, keepalive: 0, passClientCert: false });
      const multi = new MultiUrlAuth([first, first.withUrl(auth.authUrl)]);
      assert.deepEqual(await multi.authenticate(request("john", "secret")), { type: "ok", server: "127.0.0.1", port: 1143 });
      assert.equal(auth.requests.length, 1);
      assert.equal(auth.requests[0]!.user, "john");
      multi.close();
    } finally {
      await auth.close();
    }
  });

  test("a first URL that closes before its headers, or times out, is skipped", async () => {
    const closing = await startAuthServer(() => ({ raw: "Auth-Status: O" }));
    const hanging = await startAuthServer(() => "hang");
    const good = await startAuthServer(() => ({ headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": "1143" } }));
    try {
      const client = (url = closing.authUrl) => new AuthHttpClient({ url, headers: [], timeoutMs: 300, keepalive: 0, passClientCert: false });
      const multi = new MultiUrlAuth([client(), client(hanging.authUrl), client(good.authUrl)]);
      assert.equal((await multi.authenticate(request("john", "secret"))).type, "ok");
      assert.deepEqual([closing.requests.length, hanging.requests.length, good.requests.length], [1, 1, 1]);
    } finally {
      await Promise.all([closing.close(), hanging.close(), good.close()]);
    }
  });

  test("a refusal or an invalid answer from the first URL is final", async () => {
    const refusing = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login" } }));
    const garbage = await startAuthServer(() => ({ raw: "Auth-Status OK\r\n\x00\r\n\r\n" }));
    const good = await startAuthServer(() => ({ headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": "1143" } }));
    try {
      const client = (url: typeof good.authUrl) => new AuthHttpClient({ url, headers: [], timeoutMs: 5000, keepalive: 0, passClientCert: false });
      const refused = await new MultiUrlAuth([client(refusing.authUrl), client(good.authUrl)]).authenticate(request("john", "x"));
      assert.deepEqual(refused, { type: "error", text: "Invalid login", wait: 0 });
      const invalid = await new MultiUrlAuth([client(garbage.authUrl), client(good.authUrl)]).authenticate(request("john", "x"));
      assert.equal(invalid.type, "internal");
      assert.equal(good.requests.length, 0);
    } finally {
      await Promise.all([refusing.close(), garbage.close(), good.close()]);
    }
  });
});
