/**
 * limit_login and limit_conn apart from sockets: the RESP codec, the in-memory
 * store, the guard in front of an auth source, the connection counter.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { encodeCommand, RespError, RespParser } from "../../src/auth/redis.ts";
import {
  ConnectionCounter,
  type LimitStore,
  limitKeys,
  LoginLimitedAuth,
  MemoryLimitStore,
} from "../../src/auth/limits.ts";
import type { AuthRequest, AuthResult, AuthSource } from "../../src/auth/types.ts";
import type { Protocol } from "../../src/config/model.ts";
import { Logger } from "../../src/log/logger.ts";
import { protocolLines } from "../../src/protocols/factory.ts";

describe("RESP", () => {
  test("commands are arrays of bulk strings", () => {
    assert.equal(encodeCommand(["PEXPIRE", "k é", "60000"]), "*3\r\n$7\r\nPEXPIRE\r\n$3\r\nk é\r\n$5\r\n60000\r\n");
  });
  test("replies parse whatever the split", () => {
    const wire = "+OK\r\n:42\r\n$-1\r\n$5\r\nab\r\nc\r\n-ERR wrong type\r\n*2\r\n:1\r\n$0\r\n\r\n";
    for (let cut = 0; cut <= wire.length; cut++) {
      const p = new RespParser();
      p.feed(wire.slice(0, cut));
      const got = p.take();
      p.feed(wire.slice(cut));
      got.push(...p.take());
      assert.equal(got.length, 6, `cut ${cut}`);
      assert.deepEqual(got.slice(0, 4), ["OK", 42, null, "ab\r\nc"]);
      assert.ok(got[4] instanceof RespError && got[4].message === "ERR wrong type");
      assert.deepEqual(got[5], [1, ""]);
    }
  });
  test("an unknown reply type is a protocol error", () => {
    const p = new RespParser();
    p.feed("?\r\n");
    assert.throws(() => p.take(), /unexpected reply type/);
  });
});

describe("MemoryLimitStore", () => {
  test("counts per key and forgets a key when its window is over", async () => {
    let now = 1000;
    const store = new MemoryLimitStore(() => now);
    await store.add(["a", "b"], 500);
    await store.add(["a"], 500);
    assert.deepEqual(await store.counts(["a", "b", "c"]), [2, 1, 0]);
    now = 1499;
    assert.deepEqual(await store.counts(["a"]), [2]);
    now = 1500;
    assert.deepEqual(await store.counts(["a", "b"]), [0, 0]);
    await store.add(["a"], 500);
    assert.deepEqual(await store.counts(["a"]), [1]);
  });
});

function request(protocol: Protocol, user: string, clientIp = "192.0.2.7"): AuthRequest {
  return { protocol, credentials: { method: "plain", user, pass: "pw" }, attempt: 1, clientIp };
}

class ScriptedSource implements AuthSource {
  calls = 0;
  constructor(private readonly answer: (req: AuthRequest) => AuthResult) {}
  authenticate(req: AuthRequest): Promise<AuthResult> {
    this.calls++;
    return Promise.resolve(this.answer(req));
  }
  close(): void {}
}

const refuse = (): AuthResult => ({ type: "error", text: "Invalid login or password", wait: 1 });
const accept = (): AuthResult => ({ type: "ok", server: "127.0.0.1", port: 143 });

describe("LoginLimitedAuth", () => {
  test("after per_ip failures the next login gets the temporary failure and the source is not asked", async () => {
    let now = 0;
    const inner = new ScriptedSource(refuse);
    const auth = new LoginLimitedAuth(inner, { spec: { zone: "z", per_ip: 2, window: 60_000, delay: 1500 }, store: new MemoryLimitStore(() => now) });
    assert.deepEqual(await auth.authenticate(request("imap", "a")), refuse());
    assert.deepEqual(await auth.authenticate(request("imap", "b")), refuse());
    assert.deepEqual(await auth.authenticate(request("imap", "c")), {
      type: "error",
      text: "[UNAVAILABLE] Too many login failures, try again later",
      wait: 1.5,
    });
    assert.equal(inner.calls, 2);
    // Another client is not affected; the window's end lets this one in again.
    assert.deepEqual(await auth.authenticate(request("imap", "c", "192.0.2.8")), refuse());
    now = 60_000;
    assert.deepEqual(await auth.authenticate(request("imap", "c")), refuse());
    assert.equal(inner.calls, 4);
  });

  test("per_user counts a user from every address, case-insensitively", async () => {
    const inner = new ScriptedSource(refuse);
    const auth = new LoginLimitedAuth(inner, { spec: { zone: "z", per_user: 2, window: 60_000, delay: 0 }, store: new MemoryLimitStore() });
    await auth.authenticate(request("smtp", "John", "192.0.2.1"));
    await auth.authenticate(request("smtp", "john", "192.0.2.2"));
    assert.deepEqual(await auth.authenticate(request("smtp", "JOHN", "192.0.2.3")), {
      type: "error",
      text: "Too many login failures, try again later",
      wait: 0,
      errorCode: "454 4.7.0",
    });
    assert.equal(inner.calls, 2);
    assert.deepEqual(await auth.authenticate(request("smtp", "alice", "192.0.2.3")), refuse());
  });

  test("successful logins and internal errors are not counted", async () => {
    let answer: AuthResult = accept();
    const inner = new ScriptedSource(() => answer);
    const auth = new LoginLimitedAuth(inner, { spec: { zone: "z", per_ip: 1, window: 60_000, delay: 0 }, store: new MemoryLimitStore() });
    await auth.authenticate(request("pop3", "a"));
    answer = { type: "internal", reason: "down" };
    await auth.authenticate(request("pop3", "a"));
    answer = accept();
    assert.deepEqual(await auth.authenticate(request("pop3", "a")), accept());
  });

  test("a passthrough backend's refusal counts like the source's", async () => {
    const inner = new ScriptedSource(accept);
    const auth = new LoginLimitedAuth(inner, { spec: { zone: "z", per_ip: 1, window: 60_000, delay: 0 }, store: new MemoryLimitStore() });
    await auth.backendRefused(request("pop3", "a"));
    assert.deepEqual(await auth.authenticate(request("pop3", "a")), {
      type: "error",
      text: "[SYS/TEMP] Too many login failures, try again later",
      wait: 0,
    });
  });

  test("a store that fails lets logins through and logs once per outage", async () => {
    const logs: string[] = [];
    const logger = new Logger([]);
    logger.error = (message: string) => void logs.push(`error: ${message}`);
    logger.notice = (message: string) => void logs.push(`notice: ${message}`);
    let down = true;
    const store: LimitStore = {
      name: "redis://127.0.0.1:1",
      counts: (keys) => (down ? Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1")) : Promise.resolve(keys.map(() => 0))),
      add: () => (down ? Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:1")) : Promise.resolve()),
      close: () => {},
    };
    const inner = new ScriptedSource(refuse);
    const auth = new LoginLimitedAuth(inner, { spec: { zone: "z", per_ip: 1, window: 60_000, delay: 0 }, store, logger });
    await auth.authenticate(request("imap", "a"));
    await auth.authenticate(request("imap", "a"));
    assert.equal(inner.calls, 2);
    down = false;
    await auth.authenticate(request("imap", "a"));
    assert.deepEqual(logs, [
      "error: limit_store redis://127.0.0.1:1 failed (connect ECONNREFUSED 127.0.0.1:1), login limits not enforced",
      "notice: limit_store redis://127.0.0.1:1 is answering again, login limits enforced",
    ]);
  });

  test("keys name the zone and never hold the user name", () => {
    const keys = limitKeys("login", "192.0.2.7", "John@Example.COM");
    assert.equal(keys.ip, "mailproxy:limit_login:login:ip:192.0.2.7");
    assert.match(keys.user!, /^mailproxy:limit_login:login:user:[0-9a-f]{32}$/);
    assert.equal(limitKeys("login", "x", "john@example.com").user, keys.user);
    assert.equal(limitKeys("login", "x", "").user, undefined);
  });

  test("the temporary failure and the connection refusal in each protocol's words", () => {
    assert.deepEqual(protocolLines("pop3").tooManyFailures, { text: "[SYS/TEMP] Too many login failures, try again later" });
    assert.equal(protocolLines("imap").tooManyConnections, "* BYE Too many connections\r\n");
    assert.equal(protocolLines("pop3").tooManyConnections, "-ERR Too many connections\r\n");
    assert.equal(protocolLines("smtp").tooManyConnections, "421 4.7.0 Too many connections\r\n");
  });
});

describe("ConnectionCounter", () => {
  test("refuses over the limit and counts a release once", () => {
    const counter = new ConnectionCounter();
    const first = counter.acquire("192.0.2.7", 2)!;
    const second = counter.acquire("192.0.2.7", 2)!;
    assert.equal(counter.acquire("192.0.2.7", 2), null);
    assert.ok(counter.acquire("192.0.2.8", 2));
    first();
    first();
    assert.equal(counter.count("192.0.2.7"), 1);
    assert.ok(counter.acquire("192.0.2.7", 2));
    second();
  });
});
