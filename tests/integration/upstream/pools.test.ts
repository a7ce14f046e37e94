/**
 * Backend pools through the proxy, with real loopback IMAP backends (the demo server):
 * stickiness across sessions, a dead backend taken out, drain over status_listen,
 * and a fleet of two mailproxy instances agreeing through one redis-server.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { type RedisServer, startRedis } from "../../support/redis_server.ts";

const USERS = Array.from({ length: 12 }, (_, i) => `user${i}`);
const RING_USERS = Array.from({ length: 8 }, (_, i) => `ring${i}`);
const ACCOUNTS = Object.fromEntries([...USERS, ...RING_USERS, "fresh1", "fresh2", "fresh3", "mover"].map((u) => [u, { password: "pw", messages: [] }]));

async function backends(n: number): Promise<DemoImapServer[]> {
  return Promise.all(Array.from({ length: n }, () => startDemoImap(ACCOUNTS)));
}

/** A proxy with one pool of `servers` and a status listener. */
async function poolProxy(body: string): Promise<{ proxy: RunningProxy; port: number; status: number }> {
  const port = await freePort();
  const status = await freePort();
  const proxy = await startProxy(`status_listen 127.0.0.1:${status};
  mail {
    upstream pool { ${body} }
    server { listen 127.0.0.1:${port}; protocol imap; proxy_pass pool; }
  }`);
  return { proxy, port, status };
}

/** Logs in and keeps the session open; the first line after the greeting is the answer. */
async function login(port: number, user: string): Promise<{ client: WireClient; reply: string }> {
  const client = await WireClient.connect(port);
  await client.line();
  client.send(`a1 LOGIN ${user} pw\r\n`);
  return { client, reply: await client.line() };
}

/** Which backends saw a LOGIN of `user`. */
function landedOn(all: DemoImapServer[], user: string): number[] {
  const needle = `LOGIN {${user.length}}\r\n${user} `;
  return all.flatMap((b, i) => (b.transcripts.some((t) => t.some((line) => line.startsWith(`a1 ${needle}`))) ? [i] : []));
}

const OK = "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in";

/** The per-backend samples of `metric` on /metrics, as `server value` (the label `pool="pool"` checked). */
async function samples(status: number, metric: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${status}/metrics`)).text();
  return text.split("\n").filter((l) => l.startsWith(`${metric}{`)).map((l) => {
    const m = /^\w+\{pool="pool",server="([^"]+)"(,state="(\w+)")?\} (\d+)$/.exec(l);
    assert.ok(m, l);
    return m[3] ? `${m[1]} ${m[3]} ${m[4]}` : `${m[1]} ${m[4]}`;
  });
}

describe("an upstream pool in front of three IMAP backends", () => {
  let all: DemoImapServer[];
  let setup: Awaited<ReturnType<typeof poolProxy>>;

  before(async () => {
    all = await backends(3);
    setup = await poolProxy(all.map((b) => `server 127.0.0.1:${b.port} max_fails=1 fail_timeout=1m;`).join(" "));
  });
  after(async () => {
    await setup.proxy.stop();
    await Promise.all(all.map((b) => b.close()));
  });

  test("every user's three concurrent sessions land on one backend, round-robin spreads the users, /upstreams and /metrics count them", async () => {
    const open: WireClient[] = [];
    for (let round = 0; round < 3; round++) {
      for (const user of USERS) {
        const { client, reply } = await login(setup.port, user);
        assert.equal(reply, OK);
        open.push(client);
      }
    }
    for (const user of USERS) assert.equal(landedOn(all, user).length, 1, user);
    const used = new Set(USERS.map((u) => landedOn(all, u)[0]));
    assert.equal(used.size, 3);
    const status = await (await fetch(`http://127.0.0.1:${setup.status}/upstreams`)).json() as Array<{ servers: Array<{ sessions: number; users: number }> }>;
    assert.equal(status[0]!.servers.reduce((n, s) => n + s.sessions, 0), 36);
    assert.equal(status[0]!.servers.reduce((n, s) => n + s.users, 0), 12);
    // Smooth round-robin over three equal backends: four users each.
    const servers = all.map((b) => `127.0.0.1:${b.port}`);
    assert.deepEqual(await samples(setup.status, "mailproxy_upstream_sessions"), servers.map((s) => `${s} 12`));
    assert.deepEqual(await samples(setup.status, "mailproxy_upstream_users"), servers.map((s) => `${s} 4`));
    assert.deepEqual(await samples(setup.status, "mailproxy_upstream_selections_total"), servers.map((s) => `${s} 4`));
    assert.deepEqual(await samples(setup.status, "mailproxy_upstream_failures_total"), servers.map((s) => `${s} 0`));
    assert.deepEqual(
      (await samples(setup.status, "mailproxy_upstream_state")).filter((l) => l.endsWith(" 1")),
      servers.map((s) => `${s} up 1`),
    );
    for (const c of open) c.close();
  });

  test("a drained backend takes no new user, and the drain is logged", async () => {
    const drained = all[0]!.port;
    const res = await fetch(`http://127.0.0.1:${setup.status}/upstreams/pool/127.0.0.1:${drained}/drain`, { method: "POST" });
    assert.equal(res.status, 200);
    const before = all[0]!.transcripts.length;
    for (const user of ["fresh1", "fresh2", "fresh3"]) {
      const { client } = await login(setup.port, user);
      client.close();
    }
    assert.equal(all[0]!.transcripts.length, before);
    assert.match(setup.proxy.log(), new RegExp(`drain of upstream "pool" server 127.0.0.1:${drained} from 127.0.0.1: draining`));
  });

  test("a moved user's open session gets the protocol's goodbye, and the next login lands where the user was moved", async () => {
    const { client, reply } = await login(setup.port, "mover");
    assert.equal(reply, OK);
    const from = landedOn(all, "mover")[0]!;
    const to = all.findIndex((_, i) => i !== from && i !== 0); // not the drained one
    const res = await fetch(`http://127.0.0.1:${setup.status}/users/mover/move?to=127.0.0.1:${all[to]!.port}`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.equal(await client.rest(), "* BYE Server shutting down\r\n");
    const again = await login(setup.port, "mover");
    assert.equal(again.reply, OK);
    again.client.close();
    assert.deepEqual(landedOn(all, "mover").sort(), [from, to].sort());
    assert.equal(all[to]!.transcripts.filter((t) => t.some((line) => line.includes("mover "))).length, 1);
  });

  test("a dead backend is taken out after its failure and its users' next logins succeed on another", async () => {
    const victim = all[1]!;
    const users = USERS.filter((u) => landedOn(all, u)[0] === 1);
    assert.ok(users.length > 0);
    await victim.close();
    const first = await login(setup.port, users[0]!);
    assert.equal(first.reply, "* BAD internal server error");
    for (const user of users) {
      const { client, reply } = await login(setup.port, user);
      assert.equal(reply, OK, user);
      client.close();
    }
    const status = await (await fetch(`http://127.0.0.1:${setup.status}/upstreams`)).json() as Array<{ servers: Array<{ server: string; state: string }> }>;
    assert.equal(status[0]!.servers.find((s) => s.server === `127.0.0.1:${victim.port}`)!.state, "down");
    const dead = `127.0.0.1:${victim.port}`;
    assert.deepEqual((await samples(setup.status, "mailproxy_upstream_state")).filter((l) => l.startsWith(`${dead} `)), [
      `${dead} up 0`,
      `${dead} down 1`,
      `${dead} draining 0`,
      `${dead} disabled 0`,
      `${dead} removed 0`,
    ]);
    assert.deepEqual((await samples(setup.status, "mailproxy_upstream_failures_total")).filter((l) => l.startsWith(`${dead} `)), [`${dead} 1`]);
  });
});

describe("two mailproxy instances sharing one redis-server", () => {
  let all: DemoImapServer[];
  let redis: RedisServer;
  let a: Awaited<ReturnType<typeof poolProxy>>;
  let b: Awaited<ReturnType<typeof poolProxy>>;

  before(async () => {
    all = await backends(3);
    redis = await startRedis();
    // least_conn alone would place each user by its own counts: the store makes the fleet agree.
    const body = `least_conn; ${all.map((x) => `server 127.0.0.1:${x.port};`).join(" ")} sticky_store ${redis.url} ttl=1h;`;
    a = await poolProxy(body);
    b = await poolProxy(body);
  });
  after(async () => {
    await a.proxy.stop();
    await b.proxy.stop();
    await redis.stop().catch(() => {});
    await Promise.all(all.map((x) => x.close()));
  });

  test("both instances send every user to the same backend", async () => {
    const open: WireClient[] = [];
    for (const [i, user] of USERS.entries()) {
      // Load one instance unevenly so that least_conn alone would disagree.
      for (const port of i % 2 ? [a.port, b.port, b.port] : [b.port, a.port]) {
        const { client, reply } = await login(port, user);
        assert.equal(reply, OK);
        open.push(client);
      }
    }
    for (const user of USERS) assert.equal(landedOn(all, user).length, 1, user);
    for (const c of open) c.close();
  });

  test("with redis down both fall back to the same hash ring and say so once", async () => {
    await redis.stop();
    for (const user of RING_USERS) {
      for (const port of [a.port, b.port]) {
        const { client, reply } = await login(port, user);
        assert.equal(reply, OK);
        client.close();
      }
    }
    for (const user of RING_USERS) assert.equal(landedOn(all, user).length, 1, user);
    for (const proxy of [a.proxy, b.proxy]) {
      assert.equal(proxy.log().split("\n").filter((l) => l.includes("is unreachable")).length, 1, proxy.log().split("\n").filter((l) => l.includes("sticky")).join("\n"));
    }
  });
});
