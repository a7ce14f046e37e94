/**
 * Give back what a burst of logins took, once the burst is over. Each login leaves
 * garbage (auth requests, buffers, parser state) and, the first time, JIT compilation;
 * JavaScriptCore collects when allocation asks it to, so a proxy that goes quiet after
 * a burst keeps the burst's high-water mark while its thousands of idle relays sit
 * there for hours. One full collection when new sessions stop coming returns it
 * (measured in docs/performance.md, "Idle memory").
 *
 * Bounded so that it never shows as CPU: at most once per quiet spell, and never more
 * than 1 % of the time (the next one waits 100 × the last one's duration).
 */

/** No new session for this long: the burst is over. */
export const QUIET_MS = 500;
/** A collection of d ms allows the next one no sooner than d × this later. */
const SPACING = 100;

export interface SettleClock {
  now(): number;
  /** Call `fn` after `ms`; must not keep the process alive. */
  schedule(fn: () => void, ms: number): { cancel(): void };
}

const REAL_CLOCK: SettleClock = {
  now: () => performance.now(),
  schedule(fn, ms) {
    const timer = setTimeout(fn, ms);
    timer.unref?.();
    return { cancel: () => clearTimeout(timer) };
  },
};

export class MemorySettler {
  private lastStart = 0;
  private notBefore = 0;
  private pending?: { cancel(): void };

  /** `collect`: the runtime's full collection (none: the settler does nothing). */
  constructor(private readonly collect: (() => void) | undefined, private readonly clock: SettleClock = REAL_CLOCK) {}

  /** A session began; cheap, it runs once per connection. */
  sessionStarted(): void {
    if (!this.collect) return;
    this.lastStart = this.clock.now();
    this.pending ??= this.clock.schedule(this.check, QUIET_MS);
  }

  stop(): void {
    this.pending?.cancel();
    this.pending = undefined;
  }

  private readonly check = (): void => {
    const now = this.clock.now();
    const wait = Math.max(this.lastStart + QUIET_MS, this.notBefore) - now;
    if (wait > 0) {
      this.pending = this.clock.schedule(this.check, wait);
      return;
    }
    this.pending = undefined;
    this.collect!();
    const took = this.clock.now() - now;
    this.notBefore = now + took * SPACING;
  };
}
