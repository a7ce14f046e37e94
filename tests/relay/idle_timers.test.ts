import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { IdleGroup, type IdleMember } from "../../src/relay/idle_timers.ts";

function member(onExpired: () => void = () => {}): IdleMember & { expired: boolean } {
  const m = {
    lastActive: 0,
    expired: false,
    idleExpired() {
      m.expired = true;
      onExpired();
    },
  };
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("relay idle timers (proxy_timeout)", () => {
  test("a member that stays active outlives one that does not, in the same group", async () => {
    const group = new IdleGroup(300);
    let quietGone!: () => void;
    const gone = new Promise<void>((r) => (quietGone = r));
    const quiet = member(() => quietGone());
    const busy = member();
    group.add(quiet);
    group.add(busy);
    const touching = setInterval(() => (busy.lastActive = performance.now()), 20);
    await gone;
    clearInterval(touching);
    assert.equal(quiet.expired, true);
    assert.equal(busy.expired, false, "activity re-arms the member's timeout");
    assert.equal(group.size, 1, "an expired member leaves the group");
    group.remove(busy);
    assert.equal(group.size, 0);
  });

  test("a removed member is never told, and an empty group holds no timer", async () => {
    const group = new IdleGroup(30);
    const m = member();
    group.add(m);
    group.remove(m);
    await sleep(120);
    assert.equal(m.expired, false);
    assert.equal(group.size, 0);
  });

  test("members that join after the first expire in their turn, and what an expiry removes is not told", async () => {
    const group = new IdleGroup(50);
    const second = member();
    const first = member(() => group.remove(second));
    group.add(first);
    await sleep(20);
    group.add(second);
    const third = member();
    await sleep(10);
    group.add(third);
    while (!third.expired) await sleep(10);
    assert.equal(first.expired, true);
    assert.equal(second.expired, false, "removed by the first one's expiry before its own turn");
    assert.equal(group.size, 0);
  });
});
