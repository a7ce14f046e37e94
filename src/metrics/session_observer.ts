/**
 * What a session reports as it goes, turned into metrics and access-log lines.
 * The session calls these at its milestones; it knows nothing about Prometheus.
 */
import type { AccessLog, SessionRecord } from "../log/access_log.ts";
import { type MailMetrics, metrics as processMetrics } from "./mail_metrics.ts";

export interface SessionObserver {
  tlsHandshake(ok: boolean): void;
  /** One auth service consultation: ok, failed (refused), tempfail (the service failed). */
  auth(seconds: number, result: "ok" | "failed" | "tempfail"): void;
  backendLogin(seconds: number, ok: boolean): void;
  finished(record: SessionRecord): void;
}

export interface ObserverLabels {
  /** The listen address as configured. */
  server: string;
  protocol: string;
}

export function sessionObserver(
  labels: ObserverLabels,
  accessLog: () => AccessLog | undefined,
  metrics: MailMetrics = processMetrics,
): SessionObserver {
  const l = { server: labels.server, protocol: labels.protocol };
  return {
    tlsHandshake: (ok) => metrics.tlsHandshakes.inc({ ...l, result: ok ? "ok" : "failed" }),
    auth: (seconds, result) => {
      metrics.authLatency.observe(l, seconds);
      metrics.logins.inc({ ...l, result });
      if (result === "tempfail") metrics.authErrors.inc(l);
    },
    backendLogin: (seconds, ok) => {
      metrics.backendLatency.observe(l, seconds);
      if (!ok) metrics.backendErrors.inc(l);
    },
    finished: (record) => {
      metrics.bytes.inc({ ...l, direction: "up" }, record.bytesUp);
      metrics.bytes.inc({ ...l, direction: "down" }, record.bytesDown);
      metrics.sessionsClosed.inc({ ...l, reason: record.result });
      accessLog()?.write(record);
    },
  };
}
