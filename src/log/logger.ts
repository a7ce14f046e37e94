/**
 * nginx-style error log: `YYYY/MM/DD HH:MM:SS [level] PID#0: *CONN message, client: ...`
 * or one JSON object per line. Secrets never reach here: callers pass user names
 * only through `SessionContext.login`, never passwords or SASL payloads.
 */
import fs from "node:fs";
import { LOG_LEVELS, type LogLevel, type LogTarget } from "../config/model.ts";

/** What nginx appends to every session message. */
export interface SessionContext {
  conn: number;
  client: string;
  server: string;
  /** Binary string (bytes as sent by the client); shown as UTF-8. */
  login?: string;
  upstream?: string;
}

const RANK: Record<LogLevel, number> = Object.fromEntries(LOG_LEVELS.map((l, i) => [l, i])) as Record<
  LogLevel,
  number
>;

interface Sink {
  target: LogTarget;
  fd: number;
}

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function timestamp(d: Date): string {
  return `${d.getFullYear()}/${pad(d.getMonth() + 1)}/${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Turn a binary (latin1) string into readable text for a log line, escaping control bytes. */
export function printable(binary: string): string {
  const text = Buffer.from(binary, "latin1").toString("utf8");
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f"\\]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, "0")}`);
}

export class Logger {
  private sinks: Sink[] = [];
  private minRank = RANK.emerg;

  constructor(targets: LogTarget[] = [{ path: "stderr", level: "error", json: false }]) {
    this.open(targets);
  }

  /** (Re)open the targets; used at start and on USR1 (logrotate). */
  open(targets: LogTarget[]): void {
    const old = this.sinks;
    this.sinks = targets.map((target) => ({
      target,
      fd: target.path === "stderr" ? 2 : target.path === "stdout" ? 1 : fs.openSync(target.path, "a"),
    }));
    this.minRank = Math.min(...this.sinks.map((s) => RANK[s.target.level]), RANK.emerg);
    for (const s of old) if (s.fd > 2) fs.closeSync(s.fd);
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.minRank;
  }

  log(level: LogLevel, message: string, ctx?: SessionContext): void {
    if (!this.enabled(level)) return;
    const now = new Date();
    let plain: string | undefined;
    let json: string | undefined;
    for (const sink of this.sinks) {
      if (RANK[level] < RANK[sink.target.level]) continue;
      let line: string;
      if (sink.target.json) {
        json ??= JSON.stringify({
          time: now.toISOString(),
          level,
          pid: process.pid,
          ...(ctx ? { conn: ctx.conn, client: ctx.client, server: ctx.server } : {}),
          ...(ctx?.login !== undefined ? { login: printable(ctx.login) } : {}),
          ...(ctx?.upstream ? { upstream: ctx.upstream } : {}),
          message,
        }) + "\n";
        line = json;
      } else {
        plain ??= formatLine(now, level, message, ctx);
        line = plain;
      }
      try {
        fs.writeSync(sink.fd, line);
      } catch {
        // a full disk or a closed stderr must not take the proxy down
      }
    }
  }

  debug(message: string, ctx?: SessionContext): void {
    this.log("debug", message, ctx);
  }
  info(message: string, ctx?: SessionContext): void {
    this.log("info", message, ctx);
  }
  notice(message: string, ctx?: SessionContext): void {
    this.log("notice", message, ctx);
  }
  warn(message: string, ctx?: SessionContext): void {
    this.log("warn", message, ctx);
  }
  error(message: string, ctx?: SessionContext): void {
    this.log("error", message, ctx);
  }
  emerg(message: string, ctx?: SessionContext): void {
    this.log("emerg", message, ctx);
  }
}

export function formatLine(now: Date, level: LogLevel, message: string, ctx?: SessionContext): string {
  let line = `${timestamp(now)} [${level}] ${process.pid}#0: `;
  if (ctx) line += `*${ctx.conn} `;
  line += message;
  if (ctx) {
    line += `, client: ${ctx.client}, server: ${ctx.server}`;
    if (ctx.login !== undefined) line += `, login: "${printable(ctx.login)}"`;
    if (ctx.upstream) line += `, upstream: ${ctx.upstream}`;
  }
  return line + "\n";
}

/** A bug reached by one session must not take every other session down with it: log at alert instead. */
export function logCrashes(logger: Logger): void {
  process.on("uncaughtException", (err) => logger.log("alert", `uncaught exception: ${err?.stack ?? err}`));
  process.on("unhandledRejection", (err) => logger.log("alert", `unhandled rejection: ${(err as Error)?.stack ?? err}`));
}
