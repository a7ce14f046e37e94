/**
 * A worker of the master (master.ts): this program started as `SELF __worker`. It
 * reads the master's (already validated) config as JSON on stdin, so a respawned
 * worker serves exactly what its siblings serve even if the file changed on disk;
 * binds the listeners with SO_REUSEPORT next to its siblings, drops privileges, and
 * talks back to the master as JSON lines on fd 3 (ready / failed / draining, and the
 * pooled logins of pools_link.ts, whose answers come as further lines on stdin). The
 * master retires a worker at reload with WINCH (sessions finish, none is told goodbye).
 */
import fs from "node:fs";
import type { Config } from "../../config/model.ts";
import { Logger } from "../../log/logger.ts";
import { MailProxy } from "../mail_proxy.ts";
import { logTargets, runLifecycle } from "./lifecycle.ts";
import { warnIfFewFiles } from "./privileges.ts";
import { batchedLines, type MasterMessage, type PoolRequest } from "./pools_link.ts";
import { PoolsClient } from "./pools_client.ts";

/** The hidden subcommand that starts a worker. */
export const WORKER_SUBCOMMAND = "__worker";

/** What the master writes to a worker's stdin: its first line; MasterMessage lines follow. */
export interface WorkerEnvelope {
  config: Config;
  /** `-e FILE`, which overrides every error_log. */
  errorLog?: string;
}

/** What a worker writes to the master, one JSON object per line on fd 3. */
export type WorkerMessage =
  | { type: "ready"; statusPort?: number }
  | { type: "failed"; message: string }
  | { type: "draining" }
  | PoolRequest;

/**
 * How long the counts of pooled sessions started and ended wait before going to the
 * master (pools_client.ts): a storm wakes it four times a second, not a hundred. Its
 * API syncs first, and a placement takes this worker's waiting counts along.
 */
const REPORT_DELAY_MS = 250;

/** The fd a worker's messages go to. */
const CHANNEL_FD = 3;

function write(text: string): void {
  try {
    fs.writeSync(CHANNEL_FD, text);
  } catch {
    // the master is gone; the orphan watch below ends us
  }
}

function send(message: WorkerMessage): void {
  write(JSON.stringify(message) + "\n");
}

/** The envelope (stdin's first line); `onMessage` gets each later line; `onEnd` when the master is gone. */
function readStdin(onMessage: (m: MasterMessage) => void, onEnd: () => void): Promise<WorkerEnvelope> {
  return new Promise((resolve, reject) => {
    let buffer = "";
    let envelope = false;
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (d: string) => {
      buffer += d;
      for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
        const line = buffer.slice(0, at);
        buffer = buffer.slice(at + 1);
        if (!envelope) {
          envelope = true;
          resolve(JSON.parse(line) as WorkerEnvelope);
        } else onMessage(JSON.parse(line) as MasterMessage);
      }
    });
    process.stdin.on("end", () => {
      if (!envelope) reject(new Error("no configuration from the master"));
      onEnd();
    });
    process.stdin.on("error", reject);
  });
}

/** `SELF __worker`: serve until QUIT (graceful), TERM/INT (fast) or WINCH (retired). Resolves with the exit code. */
export async function runWorker(): Promise<number> {
  const pools = new PoolsClient(batchedLines<PoolRequest>(write), { reportDelayMs: REPORT_DELAY_MS });
  let kick = (_login: string, _backends: string[]) => {};
  const { config, errorLog } = await readStdin((m) => {
    if (m.type === "placed") pools.placed(m.id, m.target);
    else if (m.type === "sync") pools.sync(m.id);
    else if (m.type === "backend_out") pools.backendOut(m.backend);
    else {
      pools.kicked(m.login);
      kick(m.login, m.backends);
    }
  }, () => pools.close());
  const logger = new Logger(logTargets(config, errorLog));
  const proxy = new MailProxy(logger, { reusePort: true, serverLogs: !errorLog, pools });
  kick = (login, backends) => void proxy.kick(login, backends);
  const shutdownTimeout = config.worker_shutdown_timeout ?? 0;
  let toldDraining = false;
  return await runLifecycle({
    // The master serves status_listen, gathering each worker's numbers from this private port.
    start: (c) => proxy.start({ ...c, status_listen: c.status_listen ? "127.0.0.1:0" : undefined }),
    // Reload is the master's job: it replaces workers rather than reconfiguring them (no `apply`: HUP is ignored).
    reopen: (c) => {
      logger.open(logTargets(c, errorLog));
      proxy.reopenLogs();
      // said in the new file: the master said it in the old one
      logger.notice("reopening logs");
    },
    stop: async (mode) => {
      const stopped = mode === "retire" ? proxy.retire(shutdownTimeout) : proxy.stop(mode === "graceful", shutdownTimeout);
      if (!toldDraining) {
        toldDraining = true;
        // the listeners closed first thing: the master may now count this worker out of accepting
        await new Promise((r) => setImmediate(r));
        send({ type: "draining" });
      }
      await stopped;
    },
  }, {
    logger,
    config,
    errorLog,
    dropPrivileges: true,
    retirable: true,
    ready: (stop) => {
      warnIfFewFiles(config, logger);
      send({ type: "ready", statusPort: proxy.statusAddress()?.port });
      watchMaster(() => stop("graceful"));
    },
    failed: (message) => send({ type: "failed", message }),
  });
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
