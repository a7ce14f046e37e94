/**
 * Issue 16's acceptance with real Dovecot: three instances on loopback ports sharing
 * one mail directory (a cluster on shared storage, where two backends writing one
 * user's indexes would corrupt them) behind one `upstream` pool. Each Dovecot adds its
 * own capability (XBACKEND-n), so the client's LOGIN reply tells where it landed.
 *
 * The steps build on each other: 50 users × 3 concurrent sessions; a backend killed
 * with its users' sessions; those users' next logins; a HUP.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { freePort } from "../../support/ports.ts";
import { type DovecotCluster, login, startDovecotCluster, upstreams as upstreamsOn } from "../../support/dovecot_pool.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import type { WireClient } from "../../support/wire.ts";

const USERS = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, "0")}`);

/** `count` concurrent sessions of `user`, all logged in; the backends they landed on. */
async function sessions(port: number, user: string, count: number, open: WireClient[]): Promise<Set<number>> {
  const logins = await Promise.all(Array.from({ length: count }, () => login(port, user)));
  open.push(...logins.map((l) => l.client));
  for (const l of logins) assert.notEqual(l.backend, undefined, `${user}: ${l.reply}`);
  return new Set(logins.map((l) => l.backend!));
}

/** Each user's call in batches of ten at a time (two cores, three Dovecots). */
async function inBatches(users: string[], each: (user: string) => Promise<void>): Promise<void> {
  for (let i = 0; i < users.length; i += 10) await Promise.all(users.slice(i, i + 10).map(each));
}

describe("an upstream pool of three Dovecots on one shared mail directory", () => {
  let cluster: DovecotCluster;
  let proxy: RunningProxy;
  let port: number;
  let statusPort: number;
  /** Where each user's sessions are. */
  const home = new Map<string, number>();
  const open: WireClient[] = [];
  const KILLED = 1;

  const upstreams = () => upstreamsOn(statusPort);

  before(async () => {
    cluster = await startDovecotCluster(USERS);
    port = await freePort();
    statusPort = await freePort();
    // Round-robin: without stickiness a user's sessions would spread over all three.
    proxy = await startProxy(`status_listen 127.0.0.1:${statusPort};
    mail {
      upstream dovecots { ${cluster.servers("max_fails=1 fail_timeout=10m")} }
      server { listen 127.0.0.1:${port}; protocol imap; proxy_pass dovecots; }
    }`);
  });
  after(async () => {
    for (const c of open) c.close();
    await proxy?.stop();
    await cluster?.stop();
  });

  test("50 users × 3 concurrent sessions: every user's sessions on a single backend, the users spread", async () => {
    await inBatches(USERS, async (user) => {
      const landed = await sessions(port, user, 3, open);
      assert.equal(landed.size, 1, `${user} landed on ${[...landed]}`);
      home.set(user, [...landed][0]!);
    });
    const servers = await upstreams();
    assert.deepEqual(servers.map((s) => s.sessions), [0, 1, 2].map((n) => 3 * USERS.filter((u) => home.get(u) === n).length));
    assert.deepEqual(servers.map((s) => s.users), [0, 1, 2].map((n) => USERS.filter((u) => home.get(u) === n).length));
    for (const s of servers) assert.ok(s.users > 0, `${s.server} got no user`);
  });

  test("a backend killed: one failed login takes it out, its users' next logins land on one other backend each, the rest stay", async () => {
    const victims = USERS.filter((u) => home.get(u) === KILLED);
    await cluster.dovecots[KILLED]!.stop();
    // Every user's next login in turn: only the first to reach the dead backend fails
    // (max_fails=1), and that user's retry succeeds.
    const failed: string[] = [];
    for (const user of USERS) {
      let next = await login(port, user);
      if (next.backend === undefined) {
        failed.push(`${user}: ${next.reply}`);
        next.client.close();
        next = await login(port, user);
      }
      open.push(next.client);
      assert.notEqual(next.backend, undefined, `${user}: ${next.reply}`);
      if (victims.includes(user)) assert.notEqual(next.backend, KILLED, user);
      else assert.equal(next.backend, home.get(user), `${user} left its live backend`);
      home.set(user, next.backend!);
    }
    assert.equal(failed.length, 1, failed.join("\n"));
    assert.ok(victims.some((v) => failed[0]!.startsWith(`${v}:`)), failed[0]);
    // Two more concurrent sessions each: never split across the two live backends.
    await inBatches(USERS, async (user) => {
      assert.deepEqual([...(await sessions(port, user, 2, open))], [home.get(user)], user);
    });
    const servers = await upstreams();
    // Still within fail_timeout: the killed backend is out, not tried again.
    assert.equal(servers[KILLED]!.state, "down");
    assert.deepEqual(servers.map((s) => s.users), [0, 1, 2].map((n) => USERS.filter((u) => home.get(u) === n).length));
  });

  test("a HUP keeps the assignments and the dead backend's health: after every session ended, each user returns to its backend", async () => {
    for (const c of open.splice(0)) c.close();
    while ((await upstreams()).some((s) => s.sessions > 0)) await new Promise((r) => setTimeout(r, 50));
    await proxy.reload();
    assert.equal((await upstreams())[KILLED]!.state, "down");
    for (const user of USERS) {
      const next = await login(port, user);
      open.push(next.client);
      assert.equal(next.backend, home.get(user), `${user}: ${next.reply}`);
    }
  });
});
