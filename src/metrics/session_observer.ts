/**
 * What a session reports as it goes, turned into metrics and access-log lines.
 * The session calls these at its milestones; it knows nothing about Prometheus.
 */
import type { AccessLog, SessionRecord } from "../log/access_log.ts";
import type { SessionContext } from "../log/logger.ts";
import { type MailMetrics, metrics as processMetrics } from "./mail_metrics.ts";

export interface SessionObserver {
  tlsHandshake(ok: boolean): void;
  /** One auth service consultation: ok, failed (refused), tempfail (the service failed). */
  auth(seconds: number, result: "ok" | "failed" | "tempfail"): void;
  /** `session`: the session's log context (its login and upstream); `refused`: the backend answered no to the credentials. */
  backendLogin(seconds: number, ok: boolean, session?: SessionContext, refused?: boolean): void;
  finished(record: SessionRecord): void;
}

interface ObserverLabels {
  /** The listen address as configured. */
  server: string;
  protocol: string;
}

/** What the backend pools hear of a session's backend login (upstream/pools.ts). */
interface BackendLoginListener {
  loginReported(session: SessionContext, ok: boolean, refused: boolean): void;
}

export function sessionObserver(
  labels: ObserverLabels,
  accessLog: () => AccessLog | undefined,
  metrics: MailMetrics = processMetrics,
  pools?: BackendLoginListener,
): SessionObserver {
  const { l, with: w } = labelSet(labels);
  // the label sets every session's end uses, looked up once
  const up = w("direction", "up");
  const down = w("direction", "down");
  return {
    tlsHandshake: (ok) => metrics.tlsHandshakes.inc(w("result", ok ? "ok" : "failed")),
    auth: (seconds, result) => {
      metrics.authLatency.observe(l, seconds);
      metrics.logins.inc(w("result", result));
      if (result === "tempfail") metrics.authErrors.inc(l);
    },
    backendLogin: (seconds, ok, session, refused) => {
      metrics.backendLatency.observe(l, seconds);
      if (!ok) metrics.backendErrors.inc(l);
      if (session) pools?.loginReported(session, ok, refused === true);
    },
    finished: (record) => {
      metrics.bytes.inc(up, record.bytesUp);
      metrics.bytes.inc(down, record.bytesDown);
      metrics.sessionsClosed.inc(w("reason", record.result));
      accessLog()?.write(record);
    },
  };
}

interface LabelSet {
  l: Record<string, string>;
  /** `{ ...l, [name]: value }`, one object per distinct pair, so the registry's per-object key cache hits. */
  with(name: string, value: string): Record<string, string>;
}

/** Label objects shared by every session of one server (never mutated): updates skip building a series key. */
const labelSets = new Map<string, LabelSet>();

function labelSet(labels: ObserverLabels): LabelSet {
  const id = `${labels.server}\n${labels.protocol}`;
  let set = labelSets.get(id);
  if (!set) {
    const l = { server: labels.server, protocol: labels.protocol };
    // by name, then value: no key string built per update
    const derived = new Map<string, Map<string, Record<string, string>>>();
    set = {
      l,
      with(name, value) {
        let byValue = derived.get(name);
        if (!byValue) derived.set(name, byValue = new Map());
        let d = byValue.get(value);
        if (!d) byValue.set(value, d = { ...l, [name]: value });
        return d;
      },
    };
    labelSets.set(id, set);
  }
  return set;
}
