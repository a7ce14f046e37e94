/**
 * Runs the proxy in the foreground (or daemonized): logger, pid file, signals
 * as nginx (HUP reload, QUIT graceful, TERM/INT fast, USR1 reopen logs).
 */
import fs from "node:fs";
import { spawn } from "node:child_process";
import type { Config, LogTarget } from "../config/model.ts";
import { logCrashes, Logger } from "../log/logger.ts";
import { MailProxy } from "../server/mail_proxy.ts";
import { selfCommand } from "./self.ts";
import { runMaster } from "../server/master.ts";
import { warnIfFewFiles, whyNoWorkers, workerCount } from "../server/workers.ts";
import { dropPrivileges } from "../server/privileges.ts";

export interface RunOptions {
  /** Re-read the configuration (HUP). Throws a ConfigError on a bad config. */
  reload: () => Config;
  /** `-e`: overrides every error_log. */
  errorLog?: string;
}

export function logTargets(config: Config, errorLog?: string): LogTarget[] {
  if (errorLog) return [{ path: errorLog, level: config.error_log[0]?.level ?? "error", json: false }];
  return config.error_log.length ? config.error_log : [{ path: "stderr", level: "error", json: false }];
}

/** Start serving; resolves when the proxy has stopped. */
export async function runServer(initial: Config, opts: RunOptions): Promise<number> {
  if (initial.daemon && !process.env.MAILPROXY_DAEMONIZED) return daemonize();
  const logger = new Logger(logTargets(initial, opts.errorLog));
  if (workerCount(initial) > 1) {
    // worker_processes N: a master supervising N workers (src/server/master.ts), unless they cannot share the listeners
    const reason = whyNoWorkers(initial);
    if (!reason) return await runMaster(initial, opts);
    logger.warn(`worker_processes ${initial.worker_processes}: ${reason}, running one process`);
  }
  logCrashes(logger);
  const proxy = new MailProxy(logger, { serverLogs: !opts.errorLog });
  let config = initial;
  let pidFile: string | undefined;
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  // Signal handlers go in before binding: a signal in between must not kill the process.
  let started: Promise<void> = Promise.resolve();
  let stopping = false;
  const stop = async (graceful: boolean) => {
    if (stopping) return;
    stopping = true;
    await started.catch(() => {});
    logger.notice(graceful ? "gracefully shutting down" : "exiting");
    await proxy.stop(graceful, config.worker_shutdown_timeout ?? 0);
    try {
      if (pidFile) fs.rmSync(pidFile, { force: true });
    } catch {
      // not ours to remove any more after `user`
    }
    logger.notice("exit");
    finish(0);
  };
  process.on("SIGQUIT", () => stop(true));
  process.on("SIGTERM", () => stop(false));
  process.on("SIGINT", () => stop(false));
  process.on("SIGUSR1", () => {
    logger.notice("reopening logs");
    logger.open(logTargets(config, opts.errorLog));
    proxy.reopenLogs();
  });
  process.on("SIGHUP", async () => {
    await started.catch(() => {});
    logger.notice("reconfiguring");
    let next: Config;
    try {
      next = opts.reload();
    } catch (err) {
      logger.emerg(`${(err as Error).message}; keeping the previous configuration`);
      return;
    }
    try {
      await proxy.apply(next);
      config = next;
      logger.open(logTargets(config, opts.errorLog));
      logger.notice("configuration reloaded");
    } catch (err) {
      logger.emerg(`${describeStartError(err)}; keeping the previous configuration`);
    }
  });

  started = proxy.start(config);
  try {
    await started;
  } catch (err) {
    logger.emerg(describeStartError(err));
    return 1;
  }
  pidFile = config.pid ?? (config.daemon ? "/run/mailproxy.pid" : undefined);
  if (pidFile) fs.writeFileSync(pidFile, `${process.pid}\n`);
  if (config.user) {
    // after binding and the pid file, as nginx's workers do; a reload then cannot bind new privileged ports
    const problem = dropPrivileges(config.user);
    if (problem) {
      logger.emerg(problem);
      await proxy.stop(false);
      if (pidFile) fs.rmSync(pidFile, { force: true });
      return 1;
    }
  }
  warnIfFewFiles(config, logger);
  logger.notice(`mailproxy started, ${proxy.addresses().length} listening socket(s)`);
  return await exited;
}

export function describeStartError(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e.code === "EADDRINUSE") return `bind() to ${e.address ?? ""}:${e.port ?? ""} failed (98: Address already in use)`;
  if (e.code === "EACCES") return `bind() to ${e.address ?? ""}:${e.port ?? ""} failed (13: Permission denied)`;
  return e.message ?? String(err);
}

/** `daemon on`: start a detached copy of ourselves and exit, as nginx forks. */
function daemonize(): number {
  const [cmd, ...args] = selfCommand();
  const child = spawn(cmd, [...args, ...process.argv.slice(2)], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, MAILPROXY_DAEMONIZED: "1" },
  });
  child.unref();
  return 0;
}
