/**
 * `status_allow`: who may use status_listen's pool operations. The matcher as a unit
 * (a peer outside loopback cannot be faked here), and the wiring through a proxy whose
 * allow-list leaves out 127.0.0.1, which then gets the 403 any other peer would.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { addressMatcher } from "../../src/server/realip.ts";
import { STATUS_ALLOW_DEFAULT } from "../../src/metrics/status_server.ts";
import { type RunningProxy, startProxy } from "../support/proxy.ts";
import { freePort } from "../support/ports.ts";

describe("the status_allow matcher", () => {
  test("the default lets loopback in, IPv4-mapped and IPv6 alike, and no one else", () => {
    const allowed = addressMatcher(STATUS_ALLOW_DEFAULT);
    for (const peer of ["127.0.0.1", "127.8.9.10", "::ffff:127.0.0.1", "::1"]) assert.equal(allowed(peer), true, peer);
    for (const peer of ["10.0.0.1", "::ffff:10.0.0.1", "::2", "fe80::1", ""]) assert.equal(allowed(peer), false, peer);
  });

  test("a list of addresses and CIDRs replaces the default", () => {
    const allowed = addressMatcher(["192.0.2.7", "10.0.0.0/8", "2001:db8::/32"]);
    for (const peer of ["192.0.2.7", "10.200.3.4", "::ffff:10.1.1.1", "2001:db8:ffff::5"]) assert.equal(allowed(peer), true, peer);
    for (const peer of ["192.0.2.8", "11.0.0.1", "2001:db9::5", "127.0.0.1", "::1"]) assert.equal(allowed(peer), false, peer);
  });
});

describe("a status listener whose status_allow leaves out loopback", () => {
  let proxy: RunningProxy;
  let base: string;

  before(async () => {
    const status = await freePort();
    base = `http://127.0.0.1:${status}`;
    proxy = await startProxy(`status_listen 127.0.0.1:${status};
    status_allow 10.0.0.0/8;
    mail {
      upstream pool { server 127.0.0.1:1143; }
      server { listen 127.0.0.1:${await freePort()}; protocol imap; proxy_pass pool; }
    }`);
  });
  after(() => proxy.stop());

  test("GET /upstreams and the POSTs get 403 and change nothing; each refusal is logged", async () => {
    const list = await fetch(`${base}/upstreams`);
    assert.equal(list.status, 403);
    assert.deepEqual(await list.json(), { error: "forbidden" });
    const drain = await fetch(`${base}/upstreams/pool/127.0.0.1:1143/drain`, { method: "POST" });
    assert.equal(drain.status, 403);
    await drain.body?.cancel();
    const move = await fetch(`${base}/users/alice/move?to=127.0.0.1:1143`, { method: "POST" });
    assert.equal(move.status, 403);
    await move.body?.cancel();
    assert.equal(proxy.upstreams()[0]!.servers[0]!.state, "up");
    for (const what of ["GET /upstreams", "POST /upstreams/pool/127.0.0.1:1143/drain", "POST /users/alice/move"]) {
      assert.ok(proxy.log().includes(`status: ${what} from 127.0.0.1 refused, not in status_allow`), what);
    }
  });

  test("/metrics stays open to every peer", async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    await res.body?.cancel();
  });

  test("a reload that allows 127.0.0.1 lets it in", async () => {
    const file = proxy.configFile;
    writeFileSync(file, readFileSync(file, "utf8").replace("status_allow 10.0.0.0/8;", "status_allow 10.0.0.0/8; status_allow 127.0.0.1;"));
    await proxy.reload();
    const res = await fetch(`${base}/upstreams`);
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as Array<{ name: string }>)[0]!.name, "pool");
  });
});
