/**
 * The master as the host's placement authority (src/server/process/pools_link.ts),
 * without processes: two workers' clients wired to one host by direct calls, as the
 * pipes carry the same messages in the same order.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadConfigText } from "../../src/config/load.ts";
import { Logger } from "../../src/log/logger.ts";
import { batchedLines, type MasterMessage, type PoolRequest } from "../../src/server/process/pools_link.ts";
import { PoolsClient } from "../../src/server/process/pools_client.ts";
import { PoolsHost } from "../../src/server/process/pools_host.ts";
import type { PoolSession } from "../../src/upstream/pools.ts";

const A = "127.0.0.1:1143";
const B = "127.0.0.1:1144";

function upstreams(body: string) {
  const text = `mail { upstream p { ${body} } server { listen 143; proxy_pass p; } }`;
  return loadConfigText(text, "/cfg/m.conf").config.mail!.upstreams!;
}

/** A host and `n` workers on one clock (`clock.now`); each worker's kicks and backend_outs are recorded. */
function host(body: string, n: number) {
  const h = new PoolsHost(new Logger([]));
  h.pools.apply(upstreams(body));
  const clock = { now: 1_000_000 };
  const workers = Array.from({ length: n }, () => {
    const kicks: MasterMessage[] = [];
    // deliver: the master's lines to this worker
    const requests: PoolRequest[] = [];
    const link = {
      send: (m: MasterMessage) => {
        if (m.type === "placed") client.placed(m.id, m.target);
        else if (m.type === "sync") client.sync(m.id);
        else if (m.type === "backend_out") {
          kicks.push(m);
          client.backendOut(m.backend);
        } else {
          kicks.push(m);
          client.kicked(m.login);
        }
      },
    };
    const client: PoolsClient = new PoolsClient((m) => {
      requests.push(m);
      h.handle(link, m);
    }, { now: () => clock.now });
    client.apply(upstreams(body));
    return { client, link, kicks, requests };
  });
  return { h, workers, clock };
}

/** A session logged in through `client` where the host placed it. */
async function session(client: PoolsClient, login: string): Promise<PoolSession> {
  const target = await client.place("p", { login, remote_addr: "127.0.0.1", protocol: "imap" });
  assert.ok(target);
  const s = { login, upstream: `${target.host}:${target.port}` };
  client.loginReported(s, true, false);
  return s;
}

const sessionsOf = (h: PoolsHost) => h.pools.status()[0]!.servers.map((s) => `${s.server} ${s.sessions}`);

describe("the master placing the logins of its workers", () => {
  test("with least_conn, one user's sessions through two workers land on one backend", async () => {
    const { workers: [one, two] } = host(`least_conn; server ${A}; server ${B};`, 2);
    const first = await session(one!.client, "alice");
    // least_conn alone would send the next session to the other (empty) backend
    const second = await session(two!.client, "alice");
    assert.equal(second.upstream, first.upstream);
  });

  test("a move kicks the user in every worker holding a session elsewhere, and counts them", async () => {
    const { h, workers } = host(`least_conn; server ${A}; server ${B};`, 3);
    const s = await session(workers[0]!.client, "bob");
    await session(workers[1]!.client, "bob");
    const to = s.upstream === A ? B : A;
    const kick = { type: "kick", login: "bob", backends: [s.upstream] };
    assert.deepEqual(await h.pools.move("bob", to), { pool: "p", kicked: 2 });
    assert.deepEqual(workers.map((w) => w.kicks), [[kick], [kick], []]);
    const next = await session(workers[2]!.client, "bob");
    assert.equal(next.upstream, to);
  });

  test("sessions ended or lost with their worker are counted out; one ended before its login was reported never counts", async () => {
    const { h, workers: [one, two] } = host(`server ${A};`, 2);
    const s = await session(one!.client, "carol");
    await session(two!.client, "carol");
    await session(two!.client, "dave");
    assert.deepEqual(sessionsOf(h), [`${A} 3`]);
    one!.client.sessionClosed(s);
    assert.deepEqual(sessionsOf(h), [`${A} 2`]);
    h.workerGone(two!.link);
    assert.deepEqual(sessionsOf(h), [`${A} 0`]);
    const early = { login: "erin", upstream: A };
    one!.client.sessionClosed(early);
    one!.client.loginReported(early, true, false);
    assert.deepEqual(sessionsOf(h), [`${A} 0`]);
  });

  test("a drain on the master holds for every worker: no new user goes there", async () => {
    const { h, workers: [one, two] } = host(`server ${A}; server ${B};`, 2);
    assert.ok(h.pools.drain("p", A));
    for (const [i, user] of ["f1", "f2", "f3", "f4"].entries()) {
      assert.equal((await session((i % 2 ? one : two)!.client, user)).upstream, B);
    }
  });

  test("a failed connect reported by a worker counts against the backend (passive health)", async () => {
    const { h, workers: [one] } = host(`server ${A} max_fails=1; server ${B};`, 1);
    one!.client.loginReported({ login: "gus", upstream: A }, false, false);
    assert.equal(h.pools.status()[0]!.servers[0]!.state, "down");
  });

  test("a worker holding a session of the user places the next one there itself; after a kick it asks again", async () => {
    const { h, workers: [one] } = host(`server ${A}; server ${B};`, 1);
    const first = await session(one!.client, "ida");
    const asked = () => one!.requests.filter((r) => r.type === "place").length;
    assert.equal(asked(), 1);
    assert.equal((await session(one!.client, "ida")).upstream, first.upstream);
    assert.equal(asked(), 1);
    const to = first.upstream === A ? B : A;
    assert.deepEqual(await h.pools.move("ida", to), { pool: "p", kicked: 2 });
    assert.equal((await session(one!.client, "ida")).upstream, to);
    assert.equal(asked(), 2);
  });

  test("a worker goes on placing a user by itself for two seconds after their last session ended, then asks the master", async () => {
    const { workers: [one], clock } = host(`server ${A}; server ${B};`, 1);
    const asked = () => one!.requests.filter((r) => r.type === "place").length;
    const first = await session(one!.client, "una");
    one!.client.sessionClosed(first);
    clock.now += 1999;
    const again = await session(one!.client, "una");
    assert.equal(again.upstream, first.upstream);
    assert.equal(asked(), 1);
    one!.client.sessionClosed(again);
    clock.now += 2000;
    assert.equal((await session(one!.client, "una")).upstream, first.upstream);
    assert.equal(asked(), 2);
  });

  test("a move, a drain and a backend going down reach the workers where a user lingers: the next login asks the master", async () => {
    const { h, workers: [one, two] } = host(`server ${A} max_fails=1; server ${B};`, 2);
    const asked = () => one!.requests.filter((r) => r.type === "place").length;
    const s = await session(one!.client, "vic");
    const other = s.upstream === A ? B : A;
    one!.client.sessionClosed(s);
    await h.pools.move("vic", other);
    assert.deepEqual(one!.kicks, [{ type: "kick", login: "vic", backends: [] }]);
    const moved = await session(one!.client, "vic");
    assert.equal(moved.upstream, other);
    assert.equal(asked(), 2);
    one!.client.sessionClosed(moved);
    assert.ok(h.pools.drain("p", other));
    assert.deepEqual(one!.kicks.at(-1), { type: "backend_out", backend: other });
    const drained = await session(one!.client, "vic");
    assert.equal(drained.upstream, s.upstream);
    assert.equal(asked(), 3);
    one!.client.sessionClosed(drained);
    // another worker's failed connect takes the backend out (max_fails=1)
    two!.client.loginReported({ login: "wes", upstream: s.upstream }, false, false);
    assert.deepEqual(one!.kicks.at(-1), { type: "backend_out", backend: s.upstream });
    assert.equal(await one!.client.place("p", { login: "vic", remote_addr: "127.0.0.1", protocol: "imap" }), undefined);
    assert.equal(asked(), 4);
  });

  test("a session a worker placed from a moment ago, on a backend drained meanwhile, keeps its user there: not split", async () => {
    const { h, workers: [one, two] } = host(`server ${A}; server ${B};`, 2);
    const first = await session(one!.client, "xan");
    one!.client.sessionClosed(first);
    // the drain's backend_out has not reached worker one yet
    const deliver = one!.link.send;
    one!.link.send = (m) => m.type === "placed" && deliver(m);
    assert.ok(h.pools.drain("p", first.upstream!));
    one!.link.send = deliver;
    h.pools.status();
    const late = await session(one!.client, "xan");
    assert.equal(late.upstream, first.upstream);
    assert.equal((await session(two!.client, "xan")).upstream, first.upstream);
  });

  test("after a failed connect to a backend the worker asks the master again for the users it held there", async () => {
    const { workers: [one] } = host(`server ${A} max_fails=1; server ${B};`, 1);
    const held = await session(one!.client, "lu");
    one!.client.loginReported({ login: "lu", upstream: held.upstream }, false, false);
    const next = await session(one!.client, "lu");
    assert.notEqual(next.upstream, held.upstream);
    assert.equal(one!.requests.filter((r) => r.type === "place").length, 2);
  });

  test("a session placed by a worker on a backend the user is no longer held to closes the user's sessions there", async () => {
    const { h, workers: [one, two] } = host(`server ${A}; server ${B};`, 2);
    const first = await session(one!.client, "jo");
    const to = first.upstream === A ? B : A;
    // the move's kick has not reached worker one yet: its next session goes where it holds the user
    const pending = one!.link.send;
    one!.link.send = (m) => m.type === "placed" && pending(m);
    await h.pools.move("jo", to);
    one!.link.send = pending;
    const stale = await session(one!.client, "jo");
    assert.equal(stale.upstream, first.upstream);
    assert.deepEqual(one!.kicks.at(-1), { type: "kick", login: "jo", backends: [first.upstream] });
    assert.equal((await session(one!.client, "jo")).upstream, to);
    assert.equal((await session(two!.client, "jo")).upstream, to);
  });

  test("a worker reports its sessions as counts per user and backend, held back until a placement or a sync takes them along", async () => {
    const h = new PoolsHost(new Logger([]));
    h.pools.apply(upstreams(`server ${A};`));
    const link: { send(m: MasterMessage): void } = { send: () => {} };
    const lines: string[] = [];
    const send = batchedLines<PoolRequest>((text) => {
      for (const line of text.split("\n").filter(Boolean)) {
        lines.push(line);
        h.handle(link, JSON.parse(line));
      }
    });
    // reports wait a minute here
    const client = new PoolsClient(send, { reportDelayMs: 60_000 });
    client.apply(upstreams(`server ${A};`));
    link.send = (m) => (m.type === "placed" ? client.placed(m.id, m.target) : m.type === "sync" ? client.sync(m.id) : undefined);
    const first = await session(client, "kim");
    await session(client, "kim");
    await session(client, "kim");
    client.sessionClosed(first);
    assert.deepEqual(sessionsOf(h), [`${A} 0`]);
    // lea's placement takes kim's counts along
    await session(client, "lea");
    assert.deepEqual(sessionsOf(h), [`${A} 2`]);
    await h.sync([link]);
    assert.deepEqual(sessionsOf(h), [`${A} 3`]);
    const place = (login: string) => ({ type: "place", pool: "p", facts: { login, remote_addr: "127.0.0.1", protocol: "imap" } });
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [
      { ...place("kim"), id: 1 },
      { type: "sessions", counts: [["kim", A, 3, 1]] },
      { ...place("lea"), id: 2 },
      { type: "sessions", counts: [["lea", A, 1, 0]] },
      { type: "synced", id: 1 },
    ]);
    client.close();
  });

  test("a client whose master is gone answers every waiting placement with no backend", async () => {
    const client = new PoolsClient(() => {});
    client.apply(upstreams(`server ${A};`));
    const waiting = client.place("p", { login: "hal", remote_addr: "127.0.0.1", protocol: "imap" });
    client.close();
    assert.equal(await waiting, undefined);
  });
});
