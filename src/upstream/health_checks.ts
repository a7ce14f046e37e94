/**
 * The `health_check` timers: every `interval`, one probe of each backend of each pool
 * that has one, never two at once for a backend. The pools judge the results
 * (hysteresis in health.ts). Timers never keep the process alive.
 */
import type { HealthCheckSpec } from "../config/model.ts";
import type { Pool } from "./pool.ts";
import { probeBackend } from "./health_probe.ts";

type Report = (pool: Pool, id: string, ok: boolean, reason: string) => void;

export class HealthChecks {
  private timers: Array<ReturnType<typeof setInterval>> = [];
  private readonly running = new Set<string>();

  constructor(private readonly report: Report) {}

  /** Restart the timers for these pools (on start and on every reload). */
  apply(pools: ReadonlyArray<{ pool: Pool; check?: HealthCheckSpec }>): void {
    this.close();
    for (const { pool, check } of pools) {
      if (!check) continue;
      const timer = setInterval(() => this.round(pool, check), check.interval);
      (timer as { unref?: () => void }).unref?.();
      this.timers.push(timer);
      this.round(pool, check);
    }
  }

  close(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  private round(pool: Pool, check: HealthCheckSpec): void {
    for (const server of pool.probeTargets()) {
      const key = `${pool.name}\n${server.address}`;
      if (this.running.has(key)) continue;
      this.running.add(key);
      void probeBackend(server, check, Math.min(check.interval, 10_000)).then((result) => {
        this.running.delete(key);
        this.report(pool, server.address, result.ok, result.ok ? "" : result.reason);
      });
    }
  }
}
