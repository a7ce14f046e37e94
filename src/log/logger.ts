/**
 * nginx-style error log: `YYYY/MM/DD HH:MM:SS [level] PID#0: *CONN message, client: ...`
 * or one JSON object per line, to files, stderr or syslog (the whole line after the
 * syslog header, as nginx sends it). Secrets never reach here: callers pass user names
 * only through `SessionContext.login`, never passwords or SASL payloads.
 */
import fs from "node:fs";
import { LOG_LEVELS, type LogLevel, type LogTarget } from "../config/model.ts";
import { SyslogSender } from "./syslog.ts";
import { isSyslogTarget, parseSyslogTarget } from "../config/values/syslog_target.ts";
import { openFailure } from "../config/paths.ts";

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

/** One destination of a log: a file (stderr, stdout) or a syslog server. */
interface Sink {
  target: LogTarget;
  /** `line` ends with a newline. */
  write(level: LogLevel, line: string): void;
  close(): void;
}

/**
 * The standard streams by name: `/dev/stderr` is opened as fd 2 rather than through
 * /proc, where it fails with ENXIO when stderr is a socket (systemd's journal, docker).
 */
const STANDARD_FD: Record<string, number> = { stderr: 2, "/dev/stderr": 2, stdout: 1, "/dev/stdout": 1 };

function fileSink(target: LogTarget): Sink {
  const fd = STANDARD_FD[target.path] ?? openLogFile(target.path);
  return {
    target,
    write(_level, line) {
      try {
        fs.writeSync(fd, line);
      } catch {
        // a full disk or a closed stderr must not take the proxy down
      }
    },
    close: () => fd > 2 && fs.closeSync(fd),
  };
}

/** Open for appending; a failure reads as nginx's `open() "/x" failed (2: No such file or directory)`. */
function openLogFile(path: string): number {
  try {
    return fs.openSync(path, "a");
  } catch (err) {
    throw new Error(openFailure(path, err));
  }
}

/** The Logger owns the sender, which outlives a reopen. */
function syslogSink(target: LogTarget, sender: SyslogSender): Sink {
  return { target, write: (level, line) => sender.write(level, line.slice(0, -1)), close: () => {} };
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
  /** One socket per syslog server, shared by the targets naming it and kept when reopening. */
  private senders = new Map<string, SyslogSender>();
  private minRank = RANK.emerg;

  /** Throws, in nginx's words, when a file cannot be opened. */
  constructor(targets: LogTarget[] = [{ path: "stderr", level: "error", json: false }]) {
    this.openAll(targets);
  }

  /**
   * Open the targets again, as on USR1 (logrotate): files are opened anew, a syslog
   * server the targets still name keeps its socket. A file that cannot be opened is an
   * `[alert]` and the destinations in use stay, as nginx keeps its old files.
   */
  open(targets: LogTarget[]): void {
    try {
      this.openAll(targets);
    } catch (err) {
      this.log("alert", (err as Error).message);
    }
  }

  /** Replace the destinations by `targets`, or throw and keep them. */
  private openAll(targets: LogTarget[]): void {
    const old = this.sinks;
    const oldSenders = this.senders;
    const senders = new Map<string, SyslogSender>();
    const opened: Sink[] = [];
    try {
      for (const target of targets) opened.push(this.sinkFor(target, senders, oldSenders));
    } catch (err) {
      for (const s of opened) s.close();
      for (const [path, sender] of senders) if (!oldSenders.has(path)) sender.close();
      throw err;
    }
    this.sinks = opened;
    this.senders = senders;
    this.minRank = Math.min(...this.sinks.map((s) => RANK[s.target.level]), RANK.emerg);
    for (const s of old) s.close();
    for (const [path, sender] of oldSenders) if (!this.senders.has(path)) sender.close();
  }

  /** A file sink, or a syslog sink on the sender of its server (kept from before a reopen). */
  private sinkFor(target: LogTarget, senders: Map<string, SyslogSender>, oldSenders: Map<string, SyslogSender>): Sink {
    if (!isSyslogTarget(target.path)) return fileSink(target);
    let sender = senders.get(target.path) ?? oldSenders.get(target.path);
    if (!sender) {
      const parsed = parseSyslogTarget(target.path);
      // the configuration was checked: only a target built by hand gets here
      if ("error" in parsed) throw new Error(parsed.error);
      sender = new SyslogSender(parsed, (message) => this.log("alert", message));
    }
    senders.set(target.path, sender);
    return syslogSink(target, sender);
  }

  /** USR1: the same targets, files opened again. */
  reopen(): void {
    this.open(this.sinks.map((s) => s.target));
  }

  /** Close every destination (a server's own log that no session uses any more). */
  close(): void {
    this.open([]);
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
        sink.write(level, json);
      } else sink.write(level, plain ??= formatLine(now, level, message, ctx));
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

function formatLine(now: Date, level: LogLevel, message: string, ctx?: SessionContext): string {
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
