/**
 * Run the proxy as the configuration asks (plan.ts): in the foreground or daemonized,
 * as one process or as a master and its workers.
 */
import { spawn } from "node:child_process";
import type { Config } from "../../config/model.ts";
import { Logger } from "../../log/logger.ts";
import { logTargets, type RunOptions } from "./lifecycle.ts";
import { processPlan } from "./plan.ts";
import { runMaster } from "./master.ts";
import { runSingle } from "./single.ts";
import { selfCommand } from "./self.ts";
import { servingEnvironment } from "../../runtime.ts";

/** Start serving; resolves with the exit code once the proxy has stopped (at once when daemonizing). */
export function runProxy(config: Config, opts: RunOptions): Promise<number> {
  if (config.daemon && !process.env.MAILPROXY_DAEMONIZED) return Promise.resolve(daemonize());
  const notRestarted = restartWithServingEnvironment();
  const logger = new Logger(logTargets(config, opts.errorLog));
  if (notRestarted) logger.warn(notRestarted);
  const plan = processPlan(config);
  if (plan.warning) logger.warn(plan.warning);
  return plan.workers > 0 ? runMaster(config, opts, logger) : runSingle(config, opts, logger);
}

/**
 * Become ourselves again (execve: the same pid, for pid files and service managers)
 * with what the runtime must be told at its start (runtime.ts); workers inherit it.
 * Returns only when that was not possible: why, to be logged; serving goes on without.
 */
function restartWithServingEnvironment(): string | undefined {
  const add = servingEnvironment();
  if (!add) return undefined;
  const [cmd, ...args] = selfCommand();
  const names = Object.entries(add).map(([k, v]) => `${k}=${v}`).join(" ");
  if (!process.execve) return `cannot start again with ${names}: the runtime has no execve; serving with its defaults`;
  try {
    process.execve(cmd!, [cmd!, ...args, ...process.argv.slice(2)], { ...process.env, ...add });
  } catch (err) {
    return `cannot start again with ${names}: ${(err as Error).message}; serving with the runtime's defaults`;
  }
  return undefined;
}

/** `daemon on`: start a detached copy of ourselves and exit, as nginx forks. */
function daemonize(): number {
  const [cmd, ...args] = selfCommand();
  const child = spawn(cmd!, [...args, ...process.argv.slice(2)], {
    detached: true,
    stdio: "ignore",
    env: { ...process.env, MAILPROXY_DAEMONIZED: "1" },
  });
  child.unref();
  return 0;
}
