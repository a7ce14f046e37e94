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
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DovecotBackend, startDovecot } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";

const USERS = Array.from({ length: 50 }, (_, i) => `user${String(i).padStart(2, "0")}`);

interface Login {
  client: WireClient;
  reply: string;
  /** The Dovecot (0, 1, 2) whose capability the reply lists; undefined when refused. */
  backend?: number;
}

async function login(port: number, user: string): Promise<Login> {
  const client = await WireClient.connect(port);
  await client.line();
  client.send(`a1 LOGIN ${user} pw\r\n`);
  const reply = await client.line();
  const n = /^a1 OK \[CAPABILITY IMAP4rev1 .* XBACKEND-(\d) .*\] Logged in$/.exec(reply)?.[1];
  return { client, reply, backend: n === undefined ? undefined : Number(n) };
}

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

interface ServerStatus { server: string; state: string; sessions: number; users: number }

describe("an upstream pool of three Dovecots on one shared mail directory", () => {
  let mailRoot: string;
  const dovecots: DovecotBackend[] = [];
  let proxy: RunningProxy;
  let port: number;
  let statusPort: number;
  /** Where each user's sessions are. */
  const home = new Map<string, number>();
  const open: WireClient[] = [];
  const KILLED = 1;

  async function upstreams(): Promise<ServerStatus[]> {
    const res = await fetch(`http://127.0.0.1:${statusPort}/upstreams`);
    return ((await res.json()) as Array<{ servers: ServerStatus[] }>)[0]!.servers;
  }

  before(async () => {
    mailRoot = mkdtempSync(join(tmpdir(), "mailproxy-shared-mail-"));
    const users = USERS.map((user) => ({ user, password: "pw" }));
    for (let n = 0; n < 3; n++) {
      dovecots.push(await startDovecot({ users, mailRoot, extraConf: `imap_capability = +XBACKEND-${n}\n` }));
    }
    port = await freePort();
    statusPort = await freePort();
    // Round-robin: without stickiness a user's sessions would spread over all three.
    const servers = dovecots.map((d) => `server 127.0.0.1:${d.imapPort} max_fails=1 fail_timeout=10m;`).join("\n");
    proxy = await startProxy(`status_listen 127.0.0.1:${statusPort};
    mail {
      upstream dovecots { ${servers} }
      server { listen 127.0.0.1:${port}; protocol imap; proxy_pass dovecots; }
    }`);
  });
  after(async () => {
    for (const c of open) c.close();
    await proxy?.stop();
    for (const d of dovecots) await d.stop().catch(() => {});
    rmSync(mailRoot, { recursive: true, force: true });
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
    await dovecots[KILLED]!.stop();
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
