/**
 * Per-backend metrics of the `upstream` pools, rendered from the pools' state at
 * scrape time (the same numbers as GET /upstreams). Labels: `pool`, `server` (as
 * written in the pool), and for the state its name; the current state's series is 1.
 */
import type { BackendStateName } from "../upstream/pool.ts";
import type { PoolStatus } from "../upstream/pools.ts";
import { Counter, Gauge } from "./registry.ts";

const STATES: readonly BackendStateName[] = ["up", "down", "draining", "disabled", "removed"];

export function upstreamMetrics(pools: readonly PoolStatus[]): string {
  const sessions = new Gauge("mailproxy_upstream_sessions", "Sessions logged in to the backend now.");
  const users = new Gauge("mailproxy_upstream_users", "Users assigned to the backend now.");
  const state = new Gauge("mailproxy_upstream_state", "The backend's state: 1 for the current one.");
  const failures = new Counter("mailproxy_upstream_failures_total", "Failed connects and logins (passive health).");
  const selections = new Counter("mailproxy_upstream_selections_total", "Users placed on the backend.");
  for (const pool of pools) {
    for (const s of pool.servers) {
      const labels = { pool: pool.name, server: s.server };
      sessions.inc(labels, s.sessions);
      users.inc(labels, s.users);
      for (const name of STATES) state.inc({ ...labels, state: name }, name === s.state ? 1 : 0);
      failures.inc(labels, s.failures);
      selections.inc(labels, s.selections);
    }
  }
  return pools.length ? [sessions, users, state, failures, selections].map((m) => m.render()).join("") : "";
}
