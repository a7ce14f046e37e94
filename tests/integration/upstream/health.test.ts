/**
 * Active health checks (`health_check ... greeting`) against a backend that stops
 * greeting and starts again: `fails` silent probes in a row take it out, `passes`
 * greeted ones bring it back, each change logged once.
 *
 * Probes of one backend never overlap, so the state the backend's handler reads when
 * probe k arrives is the verdict on probes 1..k-1: the sequence is exact, not timed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import { freePort } from "../../support/ports.ts";

const FAILS = 3;
const PASSES = 2;

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 20));
}

describe("health_check greeting on a backend that stops greeting", () => {
  let backend: ScriptedBackend;
  let proxy: RunningProxy;
  let statusPort: number;
  let greeting = true;
  /** Each probe as it arrives: whether it was greeted, and the state GET /upstreams showed then. */
  const probes: Array<{ greeted: boolean; state: string }> = [];

  const server = () => `127.0.0.1:${backend.port}`;
  const state = () => proxy.upstreams()[0]!.servers[0]!.state;
  /** The states seen by the probes of one kind after the `skip` first ones. */
  const statesOf = (greeted: boolean, skip = 0) => probes.filter((p) => p.greeted === greeted).slice(skip).map((p) => p.state);

  before(async () => {
    backend = await startScriptedBackend((c) => {
      probes.push({ greeted: greeting, state: state() });
      if (greeting) c.send("* OK ready\r\n");
      // Silent: the probe times out after its interval.
    });
    statusPort = await freePort();
    proxy = await startProxy(`status_listen 127.0.0.1:${statusPort};
    mail {
      upstream pool {
        server 127.0.0.1:${backend.port};
        health_check interval=100ms fails=${FAILS} passes=${PASSES} greeting;
      }
      server { listen 127.0.0.1:${await freePort()}; protocol imap; proxy_pass pool; }
    }`);
  });
  after(async () => {
    await proxy.stop();
    await backend.close();
  });

  test(`${FAILS} silent probes in a row take it out, not fewer`, async () => {
    await until(() => statesOf(true).length >= 2);
    greeting = false;
    await until(() => statesOf(false).length > FAILS);
    assert.deepEqual(statesOf(false).slice(0, FAILS + 1), [...Array(FAILS).fill("up"), "down"]);
    const res = await fetch(`http://127.0.0.1:${statusPort}/upstreams`);
    assert.equal(((await res.json()) as Array<{ servers: Array<{ state: string }> }>)[0]!.servers[0]!.state, "down");
    const down = proxy.log().split("\n").filter((l) => l.includes(`upstream "pool" server ${server()} is down`));
    assert.equal(down.length, 1, down.join("\n"));
    assert.match(down[0]!, /is down: timed out after 100ms$/);
  });

  test(`${PASSES} greeted probes in a row bring it back, not fewer`, async () => {
    const before = statesOf(true).length;
    greeting = true;
    await until(() => statesOf(true, before).length > PASSES);
    assert.deepEqual(statesOf(true, before).slice(0, PASSES + 1), [...Array(PASSES).fill("down"), "up"]);
    const up = proxy.log().split("\n").filter((l) => l.includes(`upstream "pool" server ${server()} is up again`));
    assert.equal(up.length, 1, up.join("\n"));
  });
});
