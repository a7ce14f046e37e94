/**
 * What every mailproxy process does alike, as nginx: the signals (HUP reload, USR1
 * reopen logs, QUIT graceful stop, TERM/INT fast stop, WINCH retire a worker), start
 * and reloads one at a time with a stop waiting for them, the pid file, when the
 * privileges are dropped, and the process's own log. single.ts, master.ts and
 * worker.ts each say only what their role does at each of these moments (a `Role`).
 */
import fs from "node:fs";
import type { Config, LogTarget } from "../../config/model.ts";
import { logCrashes, type Logger } from "../../log/logger.ts";
import { dropPrivileges } from "./privileges.ts";
import { errnoText } from "../../errno.ts";

/** How the command line runs the proxy. */
export interface RunOptions {
  /** Re-read the configuration (HUP). Throws a ConfigError on a bad config. */
  reload: () => Config;
  /** `-e`: overrides every error_log. */
  errorLog?: string;
}

/** QUIT: graceful; TERM/INT: fast; WINCH: retire (a worker replaced at reload lets every session finish). */
export type StopMode = "graceful" | "fast" | "retire";

/** What one kind of process does at each moment of its life. */
interface Role {
  /** Bind (or start the workers) and serve `config`; rejects with why not. */
  start(config: Config): Promise<void>;
  /** HUP: serve `next` from now on; rejects, keeping the running configuration, when it cannot. Absent: HUP is ignored. */
  apply?(next: Config): Promise<void>;
  /** USR1: reopen the log files (the role says so where its log readers expect it). */
  reopen(config: Config): void;
  /**
   * Stop; resolves once stopped. Called again for each later stop signal, which applies
   * its harsher mode to what is left (TERM after QUIT drops the sessions still draining).
   */
  stop(mode: StopMode, config: Config): Promise<void>;
}

interface LifecycleOptions {
  /** The process's own log. */
  logger: Logger;
  config: Config;
  /** HUP re-reads the configuration with this (throws a ConfigError on a bad one). */
  readConfig?: () => Config;
  /** `-e FILE`, which overrides every error_log. */
  errorLog?: string;
  /** Written once serving, removed at exit. */
  pidFile?: string;
  /** Once serving, switch to `user` (nginx's nobody without it) when started as root. */
  dropPrivileges?: boolean;
  /** WINCH retires this process (a worker, replaced by a reload). */
  retirable?: boolean;
  /** Serving: say so. `stop` stops as the signals do. */
  ready(stop: (mode: StopMode) => void): void;
  /** Could not start (already logged). */
  failed?(message: string): void;
}

/** The process's own log targets: `-e FILE`, else the top-level error_log, else stderr. */
export function logTargets(config: Config, errorLog?: string): LogTarget[] {
  if (errorLog) return [{ path: errorLog, level: config.error_log[0]?.level ?? "error", json: false }];
  return config.error_log.length ? config.error_log : [{ path: "stderr", level: "error", json: false }];
}

/** nginx's wording for a listener that cannot be bound. */
function describeStartError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === "EADDRINUSE" || e.code === "EACCES") return `bind() to ${e.address ?? ""}:${e.port ?? ""} failed (${errnoText(e.code)})`;
  return e.message ?? String(err);
}

/** Where `-s` looks for the running process without a `pid` directive. */
const DEFAULT_PID_FILE = "/run/mailproxy.pid";

/** The pid file a serving process writes: `pid`, or the default one when daemonized. */
export function pidFileOf(config: Config): string | undefined {
  return config.pid ?? (config.daemon ? DEFAULT_PID_FILE : undefined);
}

const CONTROL_SIGNALS = { stop: "SIGTERM", quit: "SIGQUIT", reload: "SIGHUP", reopen: "SIGUSR1" } as const;

/** `-s stop|quit|reload|reopen`: signal the process named in the pid file; an error line when that fails. */
export function signalRunning(config: Config, action: keyof typeof CONTROL_SIGNALS): string | undefined {
  const pidFile = config.pid ?? DEFAULT_PID_FILE;
  let pid: number;
  try {
    pid = Number(fs.readFileSync(pidFile, "utf8").trim());
  } catch (err) {
    return `open() "${pidFile}" failed (${(err as Error).message})`;
  }
  const signal = CONTROL_SIGNALS[action];
  try {
    process.kill(pid, signal);
    return undefined;
  } catch (err) {
    return `kill(${pid}, ${signal}) failed (${(err as Error).message})`;
  }
}

function removePidFile(pidFile: string | undefined): void {
  try {
    if (pidFile) fs.rmSync(pidFile, { force: true });
  } catch {
    // not ours to remove any more after `user`
  }
}

/** Run `role` until it has stopped; resolves with the exit code. */
export async function runLifecycle(role: Role, o: LifecycleOptions): Promise<number> {
  const { logger } = o;
  logCrashes(logger);
  let config = o.config;
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  /** The start, then each reload, one after the other; a stop waits for the one under way. */
  let busy: Promise<unknown> = Promise.resolve();
  let stopping = false;

  const stop = async (mode: StopMode) => {
    const first = !stopping;
    stopping = true;
    await busy;
    if (!first) return void role.stop(mode, config);
    logger.notice(mode === "fast" ? "exiting" : "gracefully shutting down");
    await role.stop(mode, config);
    removePidFile(o.pidFile);
    logger.notice("exit");
    finish(0);
  };
  const reload = async () => {
    if (stopping || !role.apply || !o.readConfig) return;
    logger.notice("reconfiguring");
    try {
      const next = o.readConfig();
      await role.apply(next);
      config = next;
    } catch (err) {
      logger.emerg(`${describeStartError(err)}; keeping the previous configuration`);
      return;
    }
    logger.open(logTargets(config, o.errorLog));
    logger.notice("configuration reloaded");
  };

  // Handlers go in before starting: a signal in between must not kill the process.
  process.on("SIGQUIT", () => stop("graceful"));
  process.on("SIGTERM", () => stop("fast"));
  process.on("SIGINT", () => stop("fast"));
  if (o.retirable) process.on("SIGWINCH", () => stop("retire"));
  process.on("SIGHUP", () => (busy = busy.then(reload)));
  process.on("SIGUSR1", () => role.reopen(config));

  const started = role.start(config);
  busy = started.catch(() => {});
  try {
    await started;
  } catch (err) {
    const message = describeStartError(err);
    logger.emerg(message);
    o.failed?.(message);
    return 1;
  }
  if (stopping) return await exited;
  if (o.pidFile) fs.writeFileSync(o.pidFile, `${process.pid}\n`);
  // after binding and the pid file, as nginx's workers do; a reload then cannot bind new privileged ports
  const problem = o.dropPrivileges ? dropPrivileges(config.user) : undefined;
  if (problem) {
    logger.emerg(problem);
    o.failed?.(problem);
    await role.stop("fast", config);
    removePidFile(o.pidFile);
    return 1;
  }
  o.ready(stop);
  return await exited;
}
