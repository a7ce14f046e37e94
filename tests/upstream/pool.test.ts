import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HashRing } from "../../src/upstream/hash_ring.ts";
import { ActiveHealth, PassiveHealth } from "../../src/upstream/health.ts";
import { Pool } from "../../src/upstream/pool.ts";
import { loadConfigText } from "../../src/config/load.ts";

/** A pool from the body of an `upstream p { }` block. */
function pool(body: string): Pool {
  const text = `mail { upstream p { ${body} } server { listen 143; proxy_pass p; } }`;
  return new Pool(loadConfigText(text, "/cfg/m.conf").config.mail!.upstreams![0]!);
}
const facts = (login: string) => ({ login, remote_addr: "127.0.0.1", protocol: "imap" });
const users = Array.from({ length: 300 }, (_, i) => `user${i}@example.com`);

describe("the consistent hash ring", () => {
  const a = { id: "a:143", weight: 1 };
  const b = { id: "b:143", weight: 1 };
  const c = { id: "c:143", weight: 1 };

  test("two rings of the same members place every key alike, whatever the members' order", () => {
    const one = new HashRing([a, b, c]);
    const two = new HashRing([c, a, b]);
    for (const u of users) assert.deepEqual(one.order(u), two.order(u));
  });

  test("removing a member moves only its own keys, each to its next choice", () => {
    const full = new HashRing([a, b, c]);
    const less = new HashRing([a, b]);
    for (const u of users) {
      const [first, second] = full.order(u);
      assert.equal(less.order(u)[0], first === "c:143" ? second : first);
    }
  });

  test("weights share the keys out in proportion", () => {
    const ring = new HashRing([a, { id: "b:143", weight: 3 }]);
    const onB = users.filter((u) => ring.order(u)[0] === "b:143").length;
    assert.ok(onB > 180 && onB < 270, `b got ${onB} of 300`);
  });
});

describe("health", () => {
  test("passive: max_fails failures within fail_timeout take a backend out for fail_timeout", () => {
    const h = new PassiveHealth(2, 10_000);
    h.failed(0);
    assert.equal(h.up(1), true);
    h.failed(5_000);
    assert.equal(h.up(5_001), false);
    assert.equal(h.up(15_000), true);
  });

  test("passive: failures further apart than fail_timeout never add up", () => {
    const h = new PassiveHealth(2, 10_000);
    h.failed(0);
    h.failed(20_000);
    assert.equal(h.up(20_001), true);
  });

  test("active: fails bad probes in a row take it out, passes good ones bring it back, a flap moves nothing", () => {
    const h = new ActiveHealth(2, 3);
    assert.deepEqual([h.probed(false), h.probed(true), h.probed(false)], [false, false, false]);
    assert.equal(h.healthy, true);
    assert.equal(h.probed(false), true);
    assert.equal(h.healthy, false);
    assert.deepEqual([h.probed(true), h.probed(true), h.probed(false), h.probed(true), h.probed(true)], [false, false, false, false, false]);
    assert.equal(h.probed(true), true);
    assert.equal(h.healthy, true);
  });
});

describe("stickiness", () => {
  test("a user with a session stays on its backend though round-robin moves on", () => {
    const p = pool("server 10.0.0.1:143; server 10.0.0.2:143;");
    const first = p.choose(facts("alice"), 0)!;
    p.assign("alice", first, 0);
    p.sessionStarted("alice", first);
    for (let i = 0; i < 5; i++) p.choose(facts("bob"), 0);
    assert.equal(p.assigned("alice", 1), first);
  });

  test("an assignment outlives the last session by ttl, then the user is placed afresh", () => {
    const p = pool("server 10.0.0.1:143; server 10.0.0.2:143; sticky_store redis://127.0.0.1 ttl=1m;");
    p.assign("alice", "10.0.0.2:143", 0);
    p.sessionStarted("alice", "10.0.0.2:143");
    p.sessionEnded("alice", "10.0.0.2:143", 1_000);
    assert.equal(p.assigned("alice", 61_000), "10.0.0.2:143");
    assert.equal(p.assigned("alice", 61_001), undefined);
  });

  test("a dead backend loses its users to their next choice on the ring; backups only when no primary is open", () => {
    const p = pool("hash $login consistent; server 10.0.0.1:143 max_fails=1; server 10.0.0.2:143; server 10.0.0.9:143 backup;");
    const user = users.find((u) => p.choose(facts(u), 0) === "10.0.0.1:143")!;
    p.assign(user, "10.0.0.1:143", 0);
    p.sessionStarted(user, "10.0.0.1:143");
    p.loginFailed("10.0.0.1:143", 100);
    assert.equal(p.assigned(user, 200), undefined);
    assert.equal(p.choose(facts(user), 200), "10.0.0.2:143");
    p.loginFailed("10.0.0.2:143", 100);
    assert.equal(p.choose(facts(user), 200), "10.0.0.9:143");
  });

  test("a draining backend keeps the users it has sessions for and takes no new one", () => {
    const p = pool("least_conn; server 10.0.0.1:143; server 10.0.0.2:143;");
    p.assign("alice", "10.0.0.1:143", 0);
    p.sessionStarted("alice", "10.0.0.1:143");
    p.assign("bob", "10.0.0.1:143", 0);
    p.drain("10.0.0.1:143");
    assert.equal(p.assigned("alice", 1), "10.0.0.1:143");
    assert.equal(p.assigned("bob", 1), undefined);
    for (const u of users.slice(0, 5)) assert.equal(p.choose(facts(u), 1), "10.0.0.2:143");
  });

  test("least_conn places a new user on the backend with the fewest sessions per weight", () => {
    const p = pool("least_conn; server 10.0.0.1:143 weight=2; server 10.0.0.2:143;");
    for (let i = 0; i < 2; i++) p.sessionStarted(`u${i}`, "10.0.0.1:143");
    assert.equal(p.choose(facts("x"), 0), "10.0.0.2:143");
    p.sessionStarted("u9", "10.0.0.2:143");
    assert.equal(p.choose(facts("x"), 0), "10.0.0.1:143");
  });

  test("a reload keeps assignments and sessions; a removed backend drains and is forgotten with its last session", () => {
    const p = pool("server 10.0.0.1:143; server 10.0.0.2:143;");
    p.assign("alice", "10.0.0.2:143", 0);
    p.sessionStarted("alice", "10.0.0.2:143");
    const text = `mail { upstream p { server 10.0.0.1:143; server 10.0.0.3:143; } server { listen 143; proxy_pass p; } }`;
    p.update(loadConfigText(text, "/cfg/m.conf").config.mail!.upstreams![0]!);
    assert.equal(p.assigned("alice", 1), "10.0.0.2:143");
    assert.deepEqual(p.status(1).map((s) => [s.server, s.state, s.sessions]), [
      ["10.0.0.1:143", "up", 0],
      ["10.0.0.2:143", "removed", 1],
      ["10.0.0.3:143", "up", 0],
    ]);
    p.sessionEnded("alice", "10.0.0.2:143", 2);
    assert.deepEqual(p.status(3).map((s) => s.server), ["10.0.0.1:143", "10.0.0.3:143"]);
  });

  test("a reload keeps a backend's passive health; a changed max_fails or fail_timeout starts it afresh", () => {
    const body = (failTimeout: string) => `server 10.0.0.1:143 max_fails=1 fail_timeout=${failTimeout}; server 10.0.0.2:143;`;
    const reload = (p: Pool, failTimeout: string) =>
      p.update(loadConfigText(`mail { upstream p { ${body(failTimeout)} } server { listen 143; proxy_pass p; } }`, "/cfg/m.conf").config.mail!.upstreams![0]!);
    const p = pool(body("1m"));
    p.loginFailed("10.0.0.1:143", 0);
    reload(p, "1m");
    assert.deepEqual(p.status(1).map((s) => s.state), ["down", "up"]);
    reload(p, "2m");
    assert.deepEqual(p.status(1).map((s) => s.state), ["up", "up"]);
  });
});
