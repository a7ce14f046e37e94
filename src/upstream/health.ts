/**
 * Whether a backend may take logins, from two sources, both pure (the clock is passed in):
 * - passive, nginx's `max_fails`/`fail_timeout`: `max_fails` failures (a connect that
 *   failed, a login that timed out) within `fail_timeout` of the first take the backend
 *   out for `fail_timeout`; then it is tried again, and one more failure takes it out again;
 * - active, `health_check fails= passes=`: that many failed probes in a row take it out,
 *   that many good ones in a row bring it back (hysteresis: one flap moves nobody).
 */

export class PassiveHealth {
  private fails = 0;
  private windowStart = 0;
  private downUntil = 0;
  /** Every failure counted, for GET /upstreams and the metrics. */
  total = 0;

  constructor(private readonly maxFails: number, private readonly failTimeoutMs: number) {}

  failed(now: number): void {
    this.total++;
    if (this.maxFails === 0) return;
    if (now - this.windowStart > this.failTimeoutMs) {
      this.windowStart = now;
      this.fails = 0;
    }
    this.fails++;
    if (this.fails >= this.maxFails) this.downUntil = now + this.failTimeoutMs;
  }

  /** A login got through: the backend is well again. */
  succeeded(): void {
    this.fails = 0;
    this.downUntil = 0;
  }

  up(now: number): boolean {
    return now >= this.downUntil;
  }
}

export class ActiveHealth {
  private streak = 0;
  /** A backend starts up: probes may only take it out. */
  healthy = true;

  constructor(private readonly fails: number, private readonly passes: number) {}

  /** One probe's result; true when it changed `healthy`. */
  probed(ok: boolean): boolean {
    if (ok === this.healthy) {
      this.streak = 0;
      return false;
    }
    this.streak++;
    if (this.streak < (this.healthy ? this.fails : this.passes)) return false;
    this.healthy = ok;
    this.streak = 0;
    return true;
  }
}
