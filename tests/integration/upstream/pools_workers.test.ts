/**
 * Backend pools with `worker_processes 2` (a real master and two workers, started as
 * `bun|deno src/main.ts`): the master places every worker's logins, so one user's
 * sessions accepted by different workers share one backend (round-robin alone would
 * split them), and its status_listen answers GET /upstreams, drain and move for the
 * whole host; a HUP that replaces the workers keeps the assignments and the drain.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { type ChildProxy, startChildProxy } from "../../support/child_proxy.ts";

const USERS = ["u0", "u1", "u2", "u3", "u4", "u5"];
/** New users for the drain: logged in until both workers placed one (the kernel spreads connections at random). */
const DRAIN_USERS = Array.from({ length: 24 }, (_, i) => `v${i}`);
/** New users after the HUP. */
const HUP_USERS = ["w0", "w1", "w2", "w3"];
const ACCOUNTS = Object.fromEntries([...USERS, ...DRAIN_USERS, ...HUP_USERS].map((u) => [u, { password: "pw", messages: [] }]));
const OK = "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in";

/** Which backends saw a LOGIN of `user`, and how many times each. */
function logins(all: DemoImapServer[], user: string): number[] {
  const needle = `a1 LOGIN {${user.length}}\r\n${user} `;
  return all.map((b) => b.transcripts.filter((t) => t.some((line) => line.startsWith(needle))).length);
}
const landedOn = (all: DemoImapServer[], user: string) => logins(all, user).flatMap((n, i) => (n > 0 ? [i] : []));

interface ServerStatus { server: string; state: string; sessions: number; users: number }

describe("an upstream pool behind a master and two workers", () => {
  let all: DemoImapServer[];
  let p: ChildProxy;
  let port: number;
  let status: number;
  /** Each user's open sessions, and the worker pids that served them. */
  const open = new Map<string, Array<{ client: WireClient; pid: number }>>();
  let loginsSoFar = 0;

  const address = (i: number) => `127.0.0.1:${all[i]!.port}`;
  async function upstreams(): Promise<ServerStatus[]> {
    return ((await (await fetch(`http://127.0.0.1:${status}/upstreams`)).json()) as Array<{ servers: ServerStatus[] }>)[0]!.servers;
  }

  /** Logs `user` in and keeps the session; which worker served it (from its `client logged in` line). */
  async function login(user: string): Promise<number> {
    const client = await WireClient.connect(port);
    await client.line();
    client.send(`a1 LOGIN ${user} pw\r\n`);
    assert.equal(await client.line(), OK, user);
    await p.waitForLog("client logged in", ++loginsSoFar);
    const lines = [...p.log().matchAll(/\[info\] (\d+)#0: \*\d+ client logged in/g)];
    const pid = Number(lines[lines.length - 1]![1]);
    open.set(user, [...(open.get(user) ?? []), { client, pid }]);
    return pid;
  }

  before(async () => {
    all = await Promise.all([0, 1, 2].map(() => startDemoImap(ACCOUNTS)));
    port = await freePort();
    status = await freePort();
    p = await startChildProxy(`daemon off;
worker_processes 2;
pid %PID%;
error_log %LOG% info;
status_listen 127.0.0.1:${status};
mail {
  upstream pool { ${all.map((b) => `server 127.0.0.1:${b.port};`).join(" ")} }
  server { listen 127.0.0.1:${port}; protocol imap; proxy_pass pool; }
}
`, port);
  });
  after(async () => {
    for (const sessions of open.values()) for (const s of sessions) s.client.close();
    await p?.cleanup();
    await Promise.all(all.map((b) => b.close()));
  });

  test("each user's sessions through both workers land on one backend, and GET /upstreams counts the whole host", async () => {
    for (const user of USERS) {
      const pids = new Set<number>();
      for (let i = 0; i < 40 && pids.size < 2; i++) pids.add(await login(user));
      assert.equal(pids.size, 2, `${user}: both workers should have served a session`);
    }
    for (const user of USERS) assert.equal(landedOn(all, user).length, 1, `${user} landed on ${landedOn(all, user)}`);
    const servers = await upstreams();
    const home = (i: number) => USERS.filter((u) => landedOn(all, u)[0] === i);
    assert.deepEqual(servers.map((s) => s.users), [0, 1, 2].map((i) => home(i).length));
    assert.deepEqual(servers.map((s) => s.sessions), [0, 1, 2].map((i) => home(i).reduce((n, u) => n + open.get(u)!.length, 0)));
  });

  test("a move through the master kicks the user's sessions in both workers with the protocol's goodbye; the next login lands on the new server", async () => {
    const user = "u0";
    const from = landedOn(all, user)[0]!;
    const to = (from + 1) % 3;
    const sessions = open.get(user)!;
    open.delete(user);
    const res = await fetch(`http://127.0.0.1:${status}/users/${user}/move?to=${address(to)}`, { method: "POST" });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { login: user, to: address(to), pool: "pool", kicked: sessions.length });
    for (const s of sessions) assert.equal(await s.client.rest(), "* BYE Server shutting down\r\n");
    const before = logins(all, user)[to]!;
    await login(user);
    assert.equal(logins(all, user)[to], before + 1);
    assert.match(p.log(), new RegExp(`move of user "u0" to ${address(to)} from 127\\.0\\.0\\.1: done, ${sessions.length} session\\(s\\) closed`));
  });

  test("a drain through the master holds in every worker: no new user goes there", async () => {
    const drained = 2;
    const res = await fetch(`http://127.0.0.1:${status}/upstreams/pool/${address(drained)}/drain`, { method: "POST" });
    assert.equal(res.status, 200);
    const pids = new Set<number>();
    const placed: string[] = [];
    for (const user of DRAIN_USERS) {
      pids.add(await login(user));
      placed.push(user);
      if (pids.size === 2 && placed.length >= 4) break;
    }
    assert.equal(pids.size, 2, "both workers should have placed a new user");
    for (const user of placed) assert.notDeepEqual(landedOn(all, user), [drained], user);
    assert.match(p.log(), new RegExp(`drain of upstream "pool" server ${address(drained)} from 127\\.0\\.0\\.1: draining`));
  });

  test("a HUP replaces the workers and keeps the drain, the sessions of the old ones and every user's backend", async () => {
    const before = await upstreams();
    p.kill("SIGHUP");
    await p.waitForLog("configuration reloaded");
    assert.deepEqual(await upstreams(), before);
    const homes = new Map(USERS.map((u) => [u, landedOn(all, u)]));
    for (const user of USERS) await login(user);
    for (const user of USERS) assert.deepEqual(landedOn(all, user), homes.get(user), user);
    for (const user of HUP_USERS) await login(user);
    for (const user of HUP_USERS) assert.notDeepEqual(landedOn(all, user), [2], user);
    assert.equal((await upstreams())[2]!.state, "draining");
  });
});
