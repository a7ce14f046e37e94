/**
 * Issue 16's operations against real Dovecot (three instances on one mail directory,
 * dovecot_pool.ts): drain and move through status_listen; `Auth-Server: NAME` from an
 * auth service; a fleet of two proxies sharing one redis-server, where a move made on
 * one closes the user's sessions on the other too.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { freePort } from "../../support/ports.ts";
import { type DovecotCluster, login, type Login, startDovecotCluster, upstreams } from "../../support/dovecot_pool.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import { type AuthServer, startAuthServer } from "../../support/auth_server.ts";
import { type RedisServer, startRedis } from "../../support/redis_server.ts";

const DRAIN_USERS = ["d0", "d1", "d2", "d3", "d4", "d5"];
const NEW_USERS = ["n0", "n1", "n2", "n3", "n4", "n5"];
const AUTH_USERS = ["a0", "a1", "a2", "a3"];
const FLEET_USERS = Array.from({ length: 10 }, (_, i) => `f${i}`);
const RING_USERS = ["r0", "r1", "r2", "r3"];
const BYE = "* BYE Server shutting down\r\n";

let cluster: DovecotCluster;
before(async () => {
  cluster = await startDovecotCluster([...DRAIN_USERS, ...NEW_USERS, "mover", ...AUTH_USERS, ...FLEET_USERS, ...RING_USERS]);
});
after(async () => {
  await cluster?.stop();
});

/** A proxy with `status_listen`, one pool `dovecots` of the three, and one IMAP server. */
async function poolProxy(poolBody: string, server = "proxy_pass dovecots;", top = ""): Promise<{ proxy: RunningProxy; port: number; status: number }> {
  const port = await freePort();
  const status = await freePort();
  const proxy = await startProxy(`status_listen 127.0.0.1:${status};
  mail {
    ${top}
    upstream dovecots { ${cluster.servers()} ${poolBody} }
    server { listen 127.0.0.1:${port}; protocol imap; ${server} }
  }`);
  return { proxy, port, status };
}

function loggedIn(l: Login, user: string): number {
  assert.notEqual(l.backend, undefined, `${user}: ${l.reply}`);
  return l.backend!;
}

async function post(status: number, path: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`http://127.0.0.1:${status}${path}`, { method: "POST" });
  return { status: res.status, body: await res.json() };
}

describe("drain and move through status_listen, in front of three Dovecots", () => {
  let setup: Awaited<ReturnType<typeof poolProxy>>;
  const open: Login[] = [];
  before(async () => {
    setup = await poolProxy("");
  });
  after(async () => {
    for (const l of open) l.client.close();
    await setup.proxy.stop();
  });

  test("a drained Dovecot takes no new user; a session there finishes in Dovecot's words and the user's next one still goes there", async () => {
    const home = new Map<string, number>();
    for (const user of DRAIN_USERS) {
      const l = await login(setup.port, user);
      home.set(user, loggedIn(l, user));
      open.push(l);
    }
    const drained = home.get("d0")!;
    const res = await post(setup.status, `/upstreams/dovecots/${cluster.address(drained)}/drain`);
    assert.deepEqual(res, { status: 200, body: { pool: "dovecots", server: cluster.address(drained), state: "draining" } });
    for (const user of NEW_USERS) {
      const l = await login(setup.port, user);
      assert.notEqual(loggedIn(l, user), drained, user);
      l.client.close();
    }
    // d0 has a live session there: never split, so its next one goes there too
    const again = await login(setup.port, "d0");
    assert.equal(loggedIn(again, "d0"), drained);
    again.client.close();
    const session = open.find((l) => l.backend === drained)!;
    session.client.send("a2 SELECT INBOX\r\n");
    let line = await session.client.line();
    while (line.startsWith("* ")) line = await session.client.line();
    assert.match(line, /^a2 OK \[READ-WRITE\] Select completed/);
    session.client.send("a3 LOGOUT\r\n");
    const [bye, ok] = (await session.client.rest()).split("\r\n");
    assert.equal(bye, "* BYE Logging out");
    assert.match(ok!, /^a3 OK Logout completed/);
    assert.equal((await upstreams(setup.status))[drained]!.state, "draining");
    assert.match(setup.proxy.log(), new RegExp(`drain of upstream "dovecots" server ${cluster.address(drained)} from 127\\.0\\.0\\.1: draining`));
  });

  test("a move closes the user's live sessions with exactly the protocol's goodbye; the next login lands on the new Dovecot", async () => {
    const sessions = [await login(setup.port, "mover"), await login(setup.port, "mover")];
    const from = loggedIn(sessions[0]!, "mover");
    assert.equal(loggedIn(sessions[1]!, "mover"), from);
    const to = [0, 1, 2].find((n) => n !== from && (n + 1) % 3 !== from)!;
    const res = await post(setup.status, `/users/mover/move?to=${cluster.address(to)}`);
    assert.deepEqual(res, { status: 200, body: { login: "mover", to: cluster.address(to), pool: "dovecots", kicked: 2 } });
    for (const s of sessions) assert.equal(await s.client.rest(), BYE);
    const next = await login(setup.port, "mover");
    assert.equal(loggedIn(next, "mover"), to);
    next.client.close();
  });
});

describe("Auth-Server: a pool's name from the auth service, in front of three Dovecots", () => {
  let auth: AuthServer;
  let setup: Awaited<ReturnType<typeof poolProxy>>;
  before(async () => {
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "OK", "Auth-Server": "dovecots" } }));
    setup = await poolProxy("", "", `auth_http ${auth.url}; auth_http_keepalive 0;`);
  });
  after(async () => {
    await setup.proxy.stop();
    await auth.close();
  });

  test("each user's sessions land on the one backend the pool holds them to, and the auth service gets nginx's request", async () => {
    const open: Login[] = [];
    const home = new Map<string, number>();
    for (const user of AUTH_USERS) {
      for (let i = 0; i < 3; i++) {
        const l = await login(setup.port, user);
        open.push(l);
        const backend = loggedIn(l, user);
        assert.equal(home.get(user) ?? backend, backend, `${user} split`);
        home.set(user, backend);
      }
    }
    // round-robin: four users over three Dovecots, so the pool chose, not one fixed address
    assert.ok(new Set(home.values()).size > 1);
    const servers = await upstreams(setup.status);
    assert.deepEqual(servers.map((s) => s.users), [0, 1, 2].map((n) => AUTH_USERS.filter((u) => home.get(u) === n).length));
    assert.deepEqual(servers.map((s) => s.sessions), [0, 1, 2].map((n) => 3 * AUTH_USERS.filter((u) => home.get(u) === n).length));
    assert.equal(auth.requests.length, 12);
    assert.equal(
      auth.requests[0]!.raw,
      "GET /auth HTTP/1.0\r\nHost: 127.0.0.1\r\nAuth-Method: plain\r\nAuth-User: a0\r\nAuth-Pass: pw\r\n" +
        "Auth-Protocol: imap\r\nAuth-Login-Attempt: 1\r\nClient-IP: 127.0.0.1\r\n\r\n",
    );
    for (const l of open) l.client.close();
  });
});

describe("two proxies sharing one redis-server, in front of three Dovecots", () => {
  let redis: RedisServer;
  let a: Awaited<ReturnType<typeof poolProxy>>;
  let b: Awaited<ReturnType<typeof poolProxy>>;
  /** Each fleet user's sessions through a and through b. */
  const open = new Map<string, { a: Login[]; b: Login[] }>();

  before(async () => {
    redis = await startRedis();
    // least_conn alone would place each user by each proxy's own counts: the store makes them agree
    a = await poolProxy(`least_conn; sticky_store ${redis.url} ttl=1h;`);
    b = await poolProxy(`least_conn; sticky_store ${redis.url} ttl=1h;`);
  });
  after(async () => {
    for (const s of open.values()) for (const l of [...s.a, ...s.b]) l.client.close();
    await a.proxy.stop();
    await b.proxy.stop();
    await redis.stop().catch(() => {});
  });

  test("both proxies send every user's sessions to one Dovecot", async () => {
    for (const [i, user] of FLEET_USERS.entries()) {
      const mine = { a: [] as Login[], b: [] as Login[] };
      open.set(user, mine);
      // load the two unevenly, so that least_conn alone would disagree
      for (const via of i % 2 ? ["a", "b", "b"] as const : ["b", "a"] as const) {
        mine[via].push(await login((via === "a" ? a : b).port, user));
      }
      const landed = new Set([...mine.a, ...mine.b].map((l) => loggedIn(l, user)));
      assert.equal(landed.size, 1, `${user} landed on ${[...landed]}`);
    }
  });

  test("a move made on one proxy closes the user's sessions on the other as well; both then send the user to the new Dovecot", async () => {
    const user = FLEET_USERS[1]!;
    const { a: onA, b: onB } = open.get(user)!;
    open.delete(user);
    const from = onA[0]!.backend!;
    const to = (from + 1) % 3;
    const res = await post(a.status, `/users/${user}/move?to=${cluster.address(to)}`);
    assert.deepEqual(res, { status: 200, body: { login: user, to: cluster.address(to), pool: "dovecots", kicked: onA.length } });
    for (const l of [...onA, ...onB]) assert.equal(await l.client.rest(), BYE);
    assert.match(b.proxy.log(), new RegExp(`upstream "dovecots": user "${user}" moved to ${cluster.address(to)} by another instance, ${onB.length} session\\(s\\) closed`));
    for (const setup of [b, a]) {
      const next = await login(setup.port, user);
      assert.equal(loggedIn(next, user), to);
      next.client.close();
    }
  });

  test("with redis gone both keep serving, agree by the hash ring, and each says so once", async () => {
    await redis.stop();
    for (const user of RING_USERS) {
      const landed = new Set<number>();
      for (const setup of [a, b]) {
        const l = await login(setup.port, user);
        landed.add(loggedIn(l, user));
        l.client.close();
      }
      assert.equal(landed.size, 1, user);
    }
    for (const setup of [a, b]) {
      const said = setup.proxy.log().split("\n").filter((l) => l.includes("sticky_store") && l.includes("is unreachable"));
      assert.equal(said.length, 1, said.join("\n"));
    }
  });
});
