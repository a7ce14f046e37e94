/**
 * The metrics mailproxy exposes (status_listen), one registry per process.
 * Labels: `server` = the listen address as configured, `protocol` = imap|pop3|smtp|sieve.
 */
import { Counter, Gauge, Histogram } from "./registry.ts";

const LATENCY_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class MailMetrics {
  readonly started = Date.now();
  readonly connectionsAccepted = new Counter("mailproxy_connections_accepted_total", "Client connections accepted.");
  readonly connectionsRefused = new Counter("mailproxy_connections_refused_total", "Client connections refused (worker_connections reached).");
  readonly connectionsActive = new Gauge("mailproxy_connections_active", "Client connections open now.");
  readonly logins = new Counter("mailproxy_logins_total", "Authentication attempts by result: ok, failed, tempfail.");
  readonly authLatency = new Histogram("mailproxy_auth_duration_seconds", "Time the auth service took to answer.", LATENCY_BUCKETS);
  readonly authErrors = new Counter("mailproxy_auth_errors_total", "Auth service failures (down, timeout, invalid answer).");
  readonly backendLatency = new Histogram("mailproxy_backend_login_duration_seconds", "Backend connect and login dialogue time.", LATENCY_BUCKETS);
  readonly backendErrors = new Counter("mailproxy_backend_errors_total", "Backend connections or logins that failed.");
  readonly bytes = new Counter("mailproxy_relayed_bytes_total", "Bytes relayed after login, by direction: up = client to backend, down = backend to client.");
  readonly tlsHandshakes = new Counter("mailproxy_tls_handshakes_total", "TLS handshakes with clients, by result: ok, failed.");
  readonly sessionsClosed = new Counter("mailproxy_sessions_closed_total", "Sessions ended, by reason.");
  readonly authCacheHits = new Counter("mailproxy_auth_cache_hits_total", "Logins answered from auth_http_cache.");
  readonly authCacheMisses = new Counter("mailproxy_auth_cache_misses_total", "auth_http_cache lookups that asked the auth service.");

  private all() {
    return [
      this.connectionsAccepted,
      this.connectionsRefused,
      this.connectionsActive,
      this.logins,
      this.authLatency,
      this.authErrors,
      this.backendLatency,
      this.backendErrors,
      this.bytes,
      this.tlsHandshakes,
      this.sessionsClosed,
      this.authCacheHits,
      this.authCacheMisses,
    ];
  }

  /** Prometheus text exposition. */
  prometheus(): string {
    return this.all().map((m) => m.render()).join("") +
      `# HELP mailproxy_uptime_seconds Seconds since the process started.\n# TYPE mailproxy_uptime_seconds gauge\n` +
      `mailproxy_uptime_seconds ${(Date.now() - this.started) / 1000}\n`;
  }

  /** The same numbers as one JSON document for /status. */
  status(): Record<string, unknown> {
    const out: Record<string, unknown> = { pid: process.pid, uptime_seconds: (Date.now() - this.started) / 1000 };
    for (const m of this.all()) out[m.name.replace(/^mailproxy_/, "")] = m.all();
    return out;
  }
}

/** The process's metrics; sessions and listeners report here. */
export const metrics = new MailMetrics();
