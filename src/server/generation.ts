/**
 * The sessions accepted under one applied configuration, and the server-level
 * error logs they write to. A reload starts a new generation; the old one keeps
 * its logs open until its last session ends, and with `worker_shutdown_timeout`
 * its sessions are closed once that expires (as an old worker's are).
 */
import type { LogTarget } from "../config/model.ts";
import { Logger } from "../log/logger.ts";

/** What a generation needs of a session. */
interface Closable {
  abort(): void;
}

export class Generation<S extends Closable> {
  private readonly sessions = new Set<S>();
  /** A server's own error_log targets -> its logger; servers inheriting the same mail-level list share one. */
  private readonly logs = new Map<string, Logger>();
  private retired = false;
  /** Retired and without sessions: its logs are closed. */
  ended = false;
  private timer?: ReturnType<typeof setTimeout>;

  /** The logger of a server whose error_log is `targets`, or `fallback` (the top-level log) when it has none. */
  logger(targets: LogTarget[], fallback: Logger): Logger {
    if (targets.length === 0) return fallback;
    const key = JSON.stringify(targets);
    let logger = this.logs.get(key);
    if (!logger) this.logs.set(key, logger = new Logger(targets));
    return logger;
  }

  /** USR1: the server logs are reopened like the top-level one. */
  reopenLogs(): void {
    for (const logger of this.logs.values()) logger.reopen();
  }

  add(session: S): void {
    this.sessions.add(session);
  }

  /** A session of this generation ended. */
  remove(session: S): void {
    this.sessions.delete(session);
    if (this.retired && this.sessions.size === 0) this.end();
  }

  /** A newer configuration took over: close the sessions left after `shutdownTimeoutMs` (0: never). */
  retire(shutdownTimeoutMs = 0): void {
    this.retired = true;
    if (this.sessions.size === 0) return this.end();
    if (shutdownTimeoutMs > 0) {
      this.timer = setTimeout(() => {
        for (const s of this.sessions) s.abort();
      }, shutdownTimeoutMs);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** No session is left: nothing writes to the server logs any more. */
  end(): void {
    this.ended = true;
    clearTimeout(this.timer);
    for (const logger of this.logs.values()) logger.close();
    this.logs.clear();
  }
}
