/**
 * One process that binds, serves, reloads in place on HUP (listeners kept or swapped,
 * sessions untouched) and stops on QUIT/TERM: mailproxy without a master, when not
 * started as root with one worker, or when workers cannot share the listeners.
 */
import type { Config } from "../../config/model.ts";
import type { Logger } from "../../log/logger.ts";
import { MailProxy } from "../mail_proxy.ts";
import { logTargets, pidFileOf, type RunOptions, runLifecycle } from "./lifecycle.ts";
import { warnIfFewFiles } from "./privileges.ts";

/** Serve `config` in this process; resolves with the exit code once stopped. */
export function runSingle(config: Config, opts: RunOptions, logger: Logger): Promise<number> {
  const proxy = new MailProxy(logger, { serverLogs: !opts.errorLog });
  return runLifecycle({
    start: (c) => proxy.start(c),
    apply: (next) => proxy.apply(next),
    reopen: (c) => {
      logger.notice("reopening logs");
      logger.open(logTargets(c, opts.errorLog));
      proxy.reopenLogs();
    },
    stop: (mode, c) => proxy.stop(mode !== "fast", c.worker_shutdown_timeout ?? 0),
  }, {
    logger,
    config,
    readConfig: opts.reload,
    errorLog: opts.errorLog,
    pidFile: pidFileOf(config),
    // Only with `user`: without it this process keeps root, which it needs to re-read root-only keys on HUP.
    dropPrivileges: config.user !== undefined,
    ready: () => {
      warnIfFewFiles(config, logger);
      logger.notice(`mailproxy started, ${proxy.addresses().length} listening socket(s)`);
    },
  });
}
