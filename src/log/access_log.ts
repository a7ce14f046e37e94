/**
 * `access_log FILE [json]` (main context, a mailproxy addition; nginx's mail
 * module has none): one line per finished session. Plain lines are
 * space-separated `key=value` pairs in a fixed order; `json` writes one object.
 * Reopened on USR1 like the error log.
 */
import fs from "node:fs";
import { printable } from "./logger.ts";

export interface AccessLogSpec {
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

export function formatAccessLine(r: SessionRecord, json: boolean): string {
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
  constructor(private spec: AccessLogSpec) {
    this.reopen();
  }

  reopen(spec: AccessLogSpec = this.spec): void {
    const old = this.fd;
    this.spec = spec;
    this.fd = fs.openSync(spec.path, "a");
    if (old !== undefined) fs.closeSync(old);
  }

  write(r: SessionRecord): void {
    if (this.fd === undefined) return;
    try {
      fs.writeSync(this.fd, formatAccessLine(r, this.spec.json));
    } catch {
      // a full disk must not take sessions down
    }
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
