/**
 * The resolver's answer cache, as nginx keeps one per `resolver`: an answer lives
 * for `valid=` when set, else for its records' smallest TTL; NXDOMAIN and "no such
 * record" live for `valid=` or 10 s (nginx's negative caching); failures (timeouts,
 * SERVFAIL, malformed answers) are not kept, so the next session asks again.
 * Concurrent asks for one question share one query.
 */
import type { DnsOutcome } from "./dns_client.ts";

/** nginx caches an error answer for 10 s when `valid=` is not set. */
const NEGATIVE_TTL_S = 10;
/** Bound on remembered questions (oldest dropped first); a resolver for client PTRs sees many addresses. */
const MAX_ENTRIES = 10_000;

interface Entry {
  outcome: DnsOutcome;
  expiresAt: number;
}

export class DnsCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inflight = new Map<string, Promise<DnsOutcome>>();

  /** `validSec`: the `valid=` parameter in seconds, undefined = use the answers' TTLs. */
  constructor(private readonly validSec: number | undefined, private readonly now: () => number = Date.now) {}

  /** The cached outcome of (`name`, `qtype`) while fresh, else `ask()`'s, remembered per the rules above. */
  lookup(name: string, qtype: number, ask: () => Promise<DnsOutcome>): Promise<DnsOutcome> {
    const key = `${qtype} ${name.toLowerCase()}`;
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt > this.now()) return Promise.resolve(entry.outcome);
    if (entry) this.entries.delete(key);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const asked = ask().then((outcome) => {
      this.inflight.delete(key);
      this.remember(key, outcome);
      return outcome;
    });
    this.inflight.set(key, asked);
    return asked;
  }

  private remember(key: string, outcome: DnsOutcome): void {
    const seconds = outcome.type === "ok"
      ? this.validSec ?? outcome.ttl
      : outcome.type === "not-found"
      ? this.validSec ?? NEGATIVE_TTL_S
      : 0;
    if (seconds <= 0) return;
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { outcome, expiresAt: this.now() + seconds * 1000 });
  }
}
