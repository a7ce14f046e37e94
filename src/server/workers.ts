/**
 * The worker side of `worker_processes N`: a worker is this program started by
 * the master as `SELF __worker`. It reads the master's (already validated)
 * config as JSON on stdin, so a respawned worker serves exactly what its
 * siblings serve even if the file changed on disk; binds the listeners with
 * SO_REUSEPORT next to its siblings, drops privileges, and talks back to the
 * master as JSON lines on fd 3 (ready / failed / draining). The master retires
 * a worker at reload with WINCH (sessions finish, none is told goodbye).
 */
import fs from "node:fs";
import os from "node:os";
import type { Config } from "../config/model.ts";
import { logCrashes, Logger } from "../log/logger.ts";
import { MailProxy } from "./mail_proxy.ts";
import { dropPrivileges, openFilesLimit } from "./privileges.ts";
import { describeStartError, logTargets } from "../cli/run.ts";

/** The hidden subcommand that starts a worker. */
export const WORKER_SUBCOMMAND = "__worker";

/** What the master writes to a worker's stdin. */
export interface WorkerEnvelope {
  config: Config;
  /** `-e FILE`, which overrides every error_log. */
  errorLog?: string;
}

/** What a worker writes to the master, one JSON object per line on fd 3. */
export type WorkerMessage =
  | { type: "ready"; statusPort?: number }
  | { type: "failed"; message: string }
  | { type: "draining" };

/** The fd a worker's messages go to. */
export const CHANNEL_FD = 3;

/** `worker_processes`: a number, or `auto` = one per CPU. */
export function workerCount(config: Config): number {
  if (config.worker_processes === "auto") {
    return (os as { availableParallelism?: () => number }).availableParallelism?.() ?? os.cpus().length ?? 1;
  }
  return Math.max(1, config.worker_processes);
}

/**
 * Why several workers cannot share the listeners here, or undefined when they can.
 * SO_REUSEPORT load balancing is Linux (and FreeBSD's SO_REUSEPORT_LB); a unix
 * socket cannot be shared that way at all.
 */
export function whyNoWorkers(config: Config): string | undefined {
  if (process.platform !== "linux" && process.platform !== "freebsd") {
    return `reusePort is not available on ${process.platform}`;
  }
  for (const server of config.mail?.servers ?? []) {
    for (const l of server.listen ?? []) {
      if (l.kind === "unix") return `"listen ${l.address}" is a unix socket, which workers cannot share`;
    }
  }
  return undefined;
}

function send(message: WorkerMessage): void {
  try {
    fs.writeSync(CHANNEL_FD, JSON.stringify(message) + "\n");
  } catch {
    // the master is gone; the orphan watch below ends us
  }
}

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d) => (text += d));
    process.stdin.on("end", () => resolve(text));
    process.stdin.on("error", reject);
  });
}

/** `SELF __worker`: serve until QUIT (graceful) or TERM/INT (fast). Resolves with the exit code. */
export async function runWorker(): Promise<number> {
  const { config, errorLog } = JSON.parse(await readStdin()) as WorkerEnvelope;
  const logger = new Logger(logTargets(config, errorLog));
  logCrashes(logger);
  const proxy = new MailProxy(logger, { reusePort: true, serverLogs: !errorLog });
  let finish!: (code: number) => void;
  const exited = new Promise<number>((resolve) => (finish = resolve));
  let started: Promise<void> = Promise.resolve();
  let stopping = false;
  /**
   * QUIT: graceful, TERM/INT: fast, WINCH: retired by a reload (every session may
   * finish, see MailProxy.retire). A later signal still reaches the sessions left.
   */
  const stop = async (how: "graceful" | "fast" | "retire") => {
    await started.catch(() => {});
    const stopped = how === "retire"
      ? proxy.retire(config.worker_shutdown_timeout ?? 0)
      : proxy.stop(how === "graceful", config.worker_shutdown_timeout ?? 0);
    if (stopping) return;
    stopping = true;
    logger.notice(how === "fast" ? "exiting" : "gracefully shutting down");
    // the listeners closed first thing: the master may now count this worker out of accepting
    await new Promise((r) => setImmediate(r));
    send({ type: "draining" });
    await stopped;
    logger.notice("exit");
    finish(0);
  };
  process.on("SIGQUIT", () => stop("graceful"));
  process.on("SIGTERM", () => stop("fast"));
  process.on("SIGINT", () => stop("fast"));
  process.on("SIGWINCH", () => stop("retire"));
  process.on("SIGUSR1", () => {
    logger.open(logTargets(config, errorLog));
    proxy.reopenLogs();
    // said in the new file: the master said it in the old one
    logger.notice("reopening logs");
  });
  // Reload is the master's job: it replaces workers rather than reconfiguring them.
  process.on("SIGHUP", () => {});

  // The master serves status_listen, gathering each worker's numbers from this private port.
  const own: Config = { ...config, status_listen: config.status_listen ? "127.0.0.1:0" : undefined };
  started = proxy.start(own);
  try {
    await started;
  } catch (err) {
    const message = describeStartError(err);
    logger.emerg(message);
    send({ type: "failed", message });
    return 1;
  }
  const problem = dropPrivileges(config.user);
  if (problem) {
    logger.emerg(problem);
    send({ type: "failed", message: problem });
    await proxy.stop(false);
    return 1;
  }
  warnIfFewFiles(config, logger);
  send({ type: "ready", statusPort: proxy.statusAddress()?.port });
  watchMaster(() => stop("graceful"));
  return await exited;
}

/** worker_rlimit_nofile is raised by the master before exec; say so when that did not work. */
export function warnIfFewFiles(config: Config, logger: Logger): void {
  const wanted = config.worker_rlimit_nofile;
  if (wanted === undefined) return;
  const limit = openFilesLimit();
  if (limit !== undefined && limit < wanted) {
    logger.warn(`worker_rlimit_nofile ${wanted} could not be set, the open files limit is ${limit}`);
  }
}

/** A worker whose master died (kill -9) drains and exits instead of serving forever unsupervised. */
function watchMaster(onOrphaned: () => void): void {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, 1000);
  (timer as { unref?: () => void }).unref?.();
}
