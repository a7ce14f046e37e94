import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MemorySettler, QUIET_MS, type SettleClock } from "../../src/server/settle_memory.ts";

/** A clock the test moves by hand: what the settler schedules runs when the time comes. */
class ManualClock implements SettleClock {
  time = 0;
  private queue: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  now(): number {
    return this.time;
  }
  schedule(fn: () => void, ms: number) {
    const entry = { at: this.time + ms, fn, cancelled: false };
    this.queue.push(entry);
    return { cancel: () => (entry.cancelled = true) };
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.queue.filter((e) => !e.cancelled && e.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.queue.splice(this.queue.indexOf(due), 1);
      this.time = due.at;
      due.fn();
    }
    this.time = end;
  }
  get scheduled(): number {
    return this.queue.filter((e) => !e.cancelled).length;
  }
}

function settler(gcTakesMs = 2) {
  const clock = new ManualClock();
  let collections = 0;
  const s = new MemorySettler(() => {
    collections++;
    clock.time += gcTakesMs;
  }, clock);
  return { clock, s, collections: () => collections };
}

describe("memory settles after a burst of sessions", () => {
  test("one full collection once no session has started for the quiet time", () => {
    const { clock, s, collections } = settler();
    for (let i = 0; i < 1000; i++) {
      s.sessionStarted();
      clock.advance(1);
    }
    assert.equal(collections(), 0, "not during the burst");
    clock.advance(QUIET_MS - 2);
    assert.equal(collections(), 0);
    clock.advance(2);
    assert.equal(collections(), 1);
    clock.advance(60_000);
    assert.equal(collections(), 1, "once per quiet spell");
    assert.equal(clock.scheduled, 0, "nothing left scheduled while quiet");
  });

  test("sessions that keep coming put it off; never more than 1 % of the time", () => {
    const { clock, s, collections } = settler(20);
    s.sessionStarted();
    clock.advance(QUIET_MS);
    assert.equal(collections(), 1);
    // the next burst ends at once, but the last collection took 20 ms: none before 2 s after it
    s.sessionStarted();
    clock.advance(QUIET_MS);
    assert.equal(collections(), 1);
    clock.advance(2000);
    assert.equal(collections(), 2);
  });

  test("stop() cancels what is pending, and without a collector nothing is scheduled", () => {
    const { clock, s, collections } = settler();
    s.sessionStarted();
    s.stop();
    clock.advance(10 * QUIET_MS);
    assert.equal(collections(), 0);
    const none = new MemorySettler(undefined, clock);
    none.sessionStarted();
    assert.equal(clock.scheduled, 0);
  });
});
