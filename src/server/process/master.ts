/**
 * The master of `worker_processes N` (and of one worker when started as root, so that
 * the process serving clients is never root): starts the workers (`SELF __worker`,
 * each binding the listeners with SO_REUSEPORT), writes the pid file, restarts a
 * worker that dies, and turns signals into nginx's process moves: HUP = validate the
 * config here, start a new generation of workers on it, then retire the old ones
 * (WINCH) so their sessions finish untouched; QUIT/TERM/INT/USR1 are passed on to
 * every worker. It serves no mail itself and keeps the privileges it started with.
 * It places the pooled logins of all its workers (pools_link.ts), so its pools,
 * their health checks and sticky stores live here and outlive every generation.
 */
import fs from "node:fs";
import { type ChildProcess, spawn } from "node:child_process";
import type { Readable } from "node:stream";
import type { Config } from "../../config/model.ts";
import type { Logger } from "../../log/logger.ts";
import { effectiveServers } from "../../config/load.ts";
import { isSyslogTarget } from "../../config/values/syslog_target.ts";
import type { StatusServer } from "../../metrics/status_server.ts";
import { logTargets, pidFileOf, type RunOptions, runLifecycle, type StopMode } from "./lifecycle.ts";
import { selfCommand } from "./self.ts";
import { WORKER_SUBCOMMAND, type WorkerEnvelope, type WorkerMessage } from "./worker.ts";
import { startMasterStatusServer } from "./worker_status.ts";
import { batchedLines, type MasterMessage, type PoolRequest } from "./pools_link.ts";
import { PoolsHost } from "./pools_host.ts";
import { poolOperations, STATUS_ALLOW_DEFAULT } from "../../metrics/status_server.ts";
import { addressMatcher } from "../realip.ts";
import { identity } from "./privileges.ts";
import { workerCount } from "./plan.ts";

/** One worker process as the master sees it. */
interface Worker {
  pid: number;
  child: ChildProcess;
  state: "starting" | "ready" | "retiring";
  statusPort?: number;
  /** Resolves once the worker is serving, or with why it is not. */
  started: Promise<{ ok: true } | { ok: false; message: string }>;
  /** Resolves once the worker no longer accepts (draining or gone). */
  draining: Promise<void>;
  exited: Promise<{ code: number | null; signal: string | null }>;
  /** A line on the worker's stdin (after its envelope). */
  send(m: MasterMessage): void;
}

/** After this long a worker asked to stop is killed outright. */
const STOP_GRACE_MS = 5000;
/** A worker that could not start is tried again after this long. */
const RESPAWN_DELAY_MS = 1000;

function describeExit(e: { code: number | null; signal: string | null }): string {
  return e.signal ? `exited on signal ${signalNumber(e.signal)}` : `exited with code ${e.code}`;
}

function signalNumber(name: string): string {
  const n = ({ SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGUSR1: 10, SIGSEGV: 11, SIGTERM: 15 } as Record<string, number>)[name];
  return n === undefined ? name : String(n);
}

/**
 * The command that starts a worker: SELF __worker, through `sh -c "ulimit -n N; exec ..."`
 * when worker_rlimit_nofile asks for a limit node cannot set itself.
 */
function workerCommand(config: Config): string[] {
  const self = [...selfCommand(), WORKER_SUBCOMMAND];
  const nofile = config.worker_rlimit_nofile;
  if (nofile === undefined) return self;
  // raise soft and hard; not root and above the hard limit: at least the soft one; the worker warns if short
  const script = 'ulimit -n "$0" 2>/dev/null || ulimit -Sn "$0" 2>/dev/null; exec "$@"';
  return ["/bin/sh", "-c", script, String(nofile), ...self];
}

function readMessages(stream: Readable, onMessage: (m: WorkerMessage) => void): void {
  let buffer = "";
  stream.setEncoding("utf8");
  stream.on("data", (d: string) => {
    buffer += d;
    for (let at = buffer.indexOf("\n"); at >= 0; at = buffer.indexOf("\n")) {
      const line = buffer.slice(0, at);
      buffer = buffer.slice(at + 1);
      try {
        onMessage(JSON.parse(line) as WorkerMessage);
      } catch {
        // not ours: ignore
      }
    }
  });
  stream.on("error", () => {});
}

/** `pools`: where the worker's pooled logins are placed. */
function launch(config: Config, errorLog: string | undefined, pools: PoolsHost): Worker {
  const [cmd, ...args] = workerCommand(config);
  const child = spawn(cmd!, args, { stdio: ["pipe", "inherit", "inherit", "pipe"] });
  const envelope: WorkerEnvelope = { config, errorLog };
  child.stdin!.on("error", () => {});
  // stdin stays open: the pools' answers follow the envelope
  child.stdin!.write(JSON.stringify(envelope) + "\n");
  let settleStart!: (r: { ok: true } | { ok: false; message: string }) => void;
  let settleDraining!: () => void;
  const worker: Worker = {
    pid: child.pid ?? 0,
    child,
    state: "starting",
    started: new Promise((r) => (settleStart = r)),
    draining: new Promise((r) => (settleDraining = r)),
    exited: new Promise((r) => child.on("exit", (code, signal) => r({ code, signal }))),
    send: batchedLines<MasterMessage>((text) => {
      if (child.stdin!.writable) child.stdin!.write(text);
    }),
  };
  readMessages(child.stdio[3] as Readable, (m) => {
    if (isPoolRequest(m)) pools.handle(worker, m);
    else if (m.type === "ready") {
      worker.statusPort = m.statusPort;
      settleStart({ ok: true });
    } else if (m.type === "failed") settleStart({ ok: false, message: m.message });
    else if (m.type === "draining") settleDraining();
  });
  worker.exited.then((e) => {
    pools.workerGone(worker);
    child.stdin!.destroy();
    settleStart({ ok: false, message: `worker process ${worker.pid} ${describeExit(e)} while starting` });
    settleDraining();
  });
  child.on("error", (err) => settleStart({ ok: false, message: `cannot start a worker process: ${err.message}` }));
  return worker;
}

function isPoolRequest(m: WorkerMessage): m is PoolRequest {
  return m.type === "place" || m.type === "sessions" || m.type === "login_failed" || m.type === "synced";
}

function signal(w: Worker, sig: NodeJS.Signals): void {
  try {
    process.kill(w.pid, sig);
  } catch {
    // already gone
  }
}

/**
 * Workers reopen their log files by name after dropping privileges: as nginx's
 * master does, create each (a rotation just renamed it) and give it to the
 * workers' user before they are told to reopen.
 */
function handLogFilesToWorkers(config: Config, errorLog: string | undefined, logger: Logger): void {
  const id = identity(config.user);
  if (!id || "error" in id) return;
  const targets = [
    ...logTargets(config, errorLog),
    ...(errorLog ? [] : effectiveServers(config).flatMap((s) => s.error_log)),
    ...(config.access_log ? [config.access_log] : []),
  ];
  for (const file of new Set(targets.map((t) => t.path))) {
    if (file === "stderr" || file === "stdout" || isSyslogTarget(file)) continue;
    try {
      const fd = fs.openSync(file, "a");
      try {
        const owner = fs.fstatSync(fd);
        if (owner.uid !== id.uid) fs.fchownSync(fd, id.uid, owner.gid);
      } finally {
        fs.closeSync(fd);
      }
    } catch (err) {
      logger.log("alert", `cannot give "${file}" to user "${id.user}": ${(err as Error).message}`);
    }
  }
}

/** Run as the master of `workerCount(initial)` workers; resolves with the exit code once stopped. */
export function runMaster(initial: Config, opts: RunOptions, logger: Logger): Promise<number> {
  /** The configuration a respawned worker gets: the one applied last. */
  let current = initial;
  const workers = new Set<Worker>();
  let stopping = false;
  let status: { address: string; server: StatusServer } | undefined;
  const pools = new PoolsHost(logger);
  let statusAllowed = addressMatcher(initial.status_allow ?? STATUS_ALLOW_DEFAULT);

  const supervise = (w: Worker) => {
    workers.add(w);
    logger.notice(`start worker process ${w.pid}`);
    w.exited.then((e) => {
      workers.delete(w);
      if (stopping || w.state !== "ready") return;
      // Its sessions are lost; the others' are not touched. A new worker takes its place.
      logger.log("alert", `worker process ${w.pid} ${describeExit(e)}`);
      respawn();
    });
  };
  const respawn = async () => {
    while (!stopping) {
      const w = launch(current, opts.errorLog, pools);
      supervise(w);
      const r = await w.started;
      if (r.ok) {
        // a reload may have retired it while it was starting
        if (w.state === "starting") w.state = "ready";
        return;
      }
      logger.log("alert", r.message);
      signal(w, "SIGKILL");
      await new Promise((res) => setTimeout(res, RESPAWN_DELAY_MS));
    }
  };
  /** Start a full generation on `cfg`: all ready, or none left running and a rejection with the reason. */
  const startGeneration = async (cfg: Config): Promise<Worker[]> => {
    const generation = Array.from({ length: workerCount(cfg) }, () => launch(cfg, opts.errorLog, pools));
    generation.forEach(supervise);
    const results = await Promise.all(generation.map((w) => w.started));
    const failed = results.find((r) => !r.ok);
    if (failed && !failed.ok) {
      for (const w of generation) signal(w, "SIGKILL");
      await Promise.all(generation.map((w) => w.exited));
      throw new Error(failed.message);
    }
    for (const w of generation) w.state = "ready";
    return generation;
  };
  const applyStatus = async (cfg: Config) => {
    statusAllowed = addressMatcher(cfg.status_allow ?? STATUS_ALLOW_DEFAULT);
    if (status && status.address !== cfg.status_listen) {
      await status.server.close();
      status = undefined;
    }
    if (cfg.status_listen && !status) {
      const sources = () =>
        [...workers].filter((w) => w.state === "ready" && w.statusPort).map((w) => ({ pid: w.pid, port: w.statusPort! }));
      try {
        // every worker still running, retiring ones too: their sessions count
        const ops = poolOperations(pools.pools, (peer) => statusAllowed(peer), logger, () => pools.sync([...workers]));
        status = { address: cfg.status_listen, server: await startMasterStatusServer(cfg.status_listen, sources, ops) };
      } catch (err) {
        logger.error(`status_listen ${cfg.status_listen} failed: ${(err as Error).message}`);
      }
    }
  };
  /** QUIT/TERM/INT: passed on to every worker; the first one also waits for them all to exit. */
  const stop = async (mode: StopMode, cfg: Config) => {
    const sig = mode === "fast" ? "SIGTERM" : "SIGQUIT";
    const all = [...workers];
    for (const w of all) signal(w, sig);
    if (stopping) return;
    stopping = true;
    const bound = (mode === "fast" ? 0 : cfg.worker_shutdown_timeout ?? 0) + STOP_GRACE_MS;
    const timer = setTimeout(() => all.forEach((w) => signal(w, "SIGKILL")), bound);
    await Promise.all(all.map((w) => w.exited));
    clearTimeout(timer);
    pools.close();
    await status?.server.close();
  };
  let firstGeneration = 0;

  return runLifecycle({
    start: async (cfg) => {
      pools.pools.apply(cfg.mail?.upstreams ?? []);
      firstGeneration = (await startGeneration(cfg)).length;
      await applyStatus(cfg);
    },
    apply: async (next) => {
      // the new workers place by the new pools from their first login; a failed reload restores the old ones
      pools.pools.apply(next.mail?.upstreams ?? []);
      let fresh: Worker[];
      try {
        fresh = await startGeneration(next);
      } catch (err) {
        pools.pools.apply(current.mail?.upstreams ?? []);
        throw err;
      }
      // everything else retires, including a worker respawned on the old config meanwhile
      const old = [...workers].filter((w) => !fresh.includes(w));
      current = next;
      for (const w of old) {
        w.state = "retiring";
        // WINCH, not QUIT: a retired worker lets sessions still logging in finish too (nginx loses none at reload)
        void w.started.then((r) => r.ok && signal(w, "SIGWINCH"));
      }
      // Only the new generation accepts from here on.
      await Promise.all(old.map((w) => w.draining));
      await applyStatus(next);
    },
    reopen: (cfg) => {
      logger.notice("reopening logs");
      logger.open(logTargets(cfg, opts.errorLog));
      handLogFilesToWorkers(cfg, opts.errorLog, logger);
      for (const w of workers) signal(w, "SIGUSR1");
    },
    stop,
  }, {
    logger,
    config: initial,
    readConfig: opts.reload,
    errorLog: opts.errorLog,
    pidFile: pidFileOf(initial),
    ready: () => logger.notice(`mailproxy started, ${firstGeneration} worker processes`),
  });
}
