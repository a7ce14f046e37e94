/**
 * Which processes serve a configuration, as nginx decides: one process, or a master
 * and its workers. Started as root, the process serving clients drops to `user`
 * (nginx's nobody without it) and could then neither re-read root-only keys on HUP
 * nor create log files on USR1; a master that keeps root does those, as nginx's
 * does, so as root even `worker_processes 1` is a master and one worker.
 */
import os from "node:os";
import type { Config } from "../../config/model.ts";
import { identity } from "./privileges.ts";

/** `worker_processes`: a number, or `auto` = one per CPU. */
export function workerCount(config: Config): number {
  if (config.worker_processes === "auto") {
    return (os as { availableParallelism?: () => number }).availableParallelism?.() ?? os.cpus().length ?? 1;
  }
  return Math.max(1, config.worker_processes);
}

/**
 * Why workers cannot share the listeners here, or undefined when they can.
 * SO_REUSEPORT load balancing is Linux (and FreeBSD's SO_REUSEPORT_LB); a unix
 * socket cannot be shared that way at all, not even by an old and a new worker at reload.
 */
function whyNoWorkers(config: Config): string | undefined {
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

/** A master and this many workers, or one process (0); `warning` says why one process serves when more were meant to. */
interface ProcessPlan {
  workers: number;
  warning?: string;
}

export function processPlan(config: Config): ProcessPlan {
  const wanted = workerCount(config);
  // identity() is defined only when started as root, the one case where a user switch applies
  const root = identity(config.user) !== undefined;
  if (wanted === 1 && !root) return { workers: 0 };
  const reason = whyNoWorkers(config);
  if (!reason) return { workers: wanted };
  if (wanted > 1) return { workers: 0, warning: `worker_processes ${config.worker_processes}: ${reason}, running one process` };
  return { workers: 0, warning: config.user ? undefined : `${reason}: one process serves clients, as root` };
}
