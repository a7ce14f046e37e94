/**
 * `access_log FILE [json]` (main context, a mailproxy addition; nginx's mail
 * module has none): one line per finished session. Plain lines are
 * space-separated `key=value` pairs in a fixed order; `json` writes one object.
 * Reopened on USR1 like the error log. A `syslog:` target sends each line as nginx's
 * access_log does (severity info unless `severity=` says otherwise).
 */
import fs from "node:fs";
import { printable } from "./logger.ts";
import type { LogLevel } from "../config/model.ts";
import { SyslogSender } from "./syslog.ts";
import { isSyslogTarget, parseSyslogTarget } from "../config/values/syslog_target.ts";

interface AccessLogSpec {
  path: string;
  json: boolean;
}

export interface SessionRecord {
  /** When the connection was accepted (ms since epoch). */
  start: number;
  durationMs: number;
  client: string;
  /** Where it was accepted, `addr:port`. */
  server: string;
  protocol: string;
  /** Binary string as the client sent it. */
  login?: string;
  upstream?: string;
  bytesUp: number;
  bytesDown: number;
  tls?: string;
  /** How it ended: a relay end (`client-closed`, `backend-closed`, `idle-timeout`, ...) or why it never got there. */
  result: string;
}

function formatAccessLine(r: SessionRecord, json: boolean): string {
  const fields = {
    start: new Date(r.start).toISOString(),
    duration: Number((r.durationMs / 1000).toFixed(3)),
    client: r.client,
    server: r.server,
    protocol: r.protocol,
    login: r.login === undefined ? undefined : printable(r.login),
    upstream: r.upstream,
    bytes_up: r.bytesUp,
    bytes_down: r.bytesDown,
    tls: r.tls,
    result: r.result,
  };
  if (json) return JSON.stringify(fields) + "\n";
  return Object.entries(fields)
    .map(([k, v]) => `${k}=${v === undefined ? "-" : k === "login" ? `"${v}"` : k === "duration" ? (v as number).toFixed(3) : v}`)
    .join(" ") + "\n";
}

export class AccessLog {
  private fd?: number;
  private syslog?: { path: string; sender: SyslogSender; severity: LogLevel };
  /** `onError`: where a syslog server that cannot be used is reported. */
  constructor(private spec: AccessLogSpec, private readonly onError: (message: string) => void = () => {}) {
    this.reopen();
  }

  /** Open the file again (USR1) or another target (reload); a syslog server named again keeps its socket. */
  reopen(spec: AccessLogSpec = this.spec): void {
    const old = { fd: this.fd, syslog: this.syslog };
    this.spec = spec;
    this.fd = undefined;
    this.syslog = undefined;
    if (old.syslog?.path === spec.path) this.syslog = old.syslog;
    else if (isSyslogTarget(spec.path)) {
      const target = parseSyslogTarget(spec.path);
      // the configuration was checked: only a spec built by hand gets here
      if ("error" in target) throw new Error(target.error);
      this.syslog = { path: spec.path, sender: new SyslogSender(target, this.onError), severity: target.severity ?? "info" };
    } else this.fd = fs.openSync(spec.path, "a");
    if (old.fd !== undefined) fs.closeSync(old.fd);
    if (old.syslog && old.syslog !== this.syslog) old.syslog.sender.close();
  }

  write(r: SessionRecord): void {
    const line = formatAccessLine(r, this.spec.json);
    if (this.syslog) return this.syslog.sender.write(this.syslog.severity, line.slice(0, -1));
    if (this.fd === undefined) return;
    try {
      fs.writeSync(this.fd, line);
    } catch {
      // a full disk must not take sessions down
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
    this.syslog?.sender.close();
    this.syslog = undefined;
  }
}
