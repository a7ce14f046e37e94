/**
 * Runs mailproxy in-process for integration tests, from nginx-format text, with
 * a debug-level log file the test can read (and search for leaked secrets).
 */
import fs from "node:fs";
import path from "node:path";
import { loadConfigText } from "../../src/config/load.ts";
import { Logger } from "../../src/log/logger.ts";
import { MailProxy } from "../../src/server/mail_proxy.ts";
import type { Protocol } from "../../src/config/model.ts";
import { freePort } from "./ports.ts";
import type { Pools, PoolStatus } from "../../src/upstream/pools.ts";
import { tempDir } from "./temp_dir.ts";

export interface RunningProxy {
  proxy: MailProxy;
  logFile: string;
  /** The nginx-format file reload() reads. */
  configFile: string;
  log(): string;
  /** The pools' state, as GET /upstreams shows it (an in-process proxy places by its own pools). */
  upstreams(): PoolStatus[];
  /** What a HUP does in a single process: the configuration file read again and applied. */
  reload(): Promise<void>;
  stop(graceful?: boolean): Promise<void>;
}

export async function startProxy(mailBlock: string): Promise<RunningProxy> {
  const dir = tempDir("mailproxy-test-");
  const logFile = path.join(dir, "error.log");
  const file = path.join(dir, "mailproxy.conf");
  const text = `error_log ${logFile} debug;\n${mailBlock}\n`;
  fs.writeFileSync(file, text);
  const { config } = loadConfigText(text, file);
  const logger = new Logger(config.error_log);
  const proxy = new MailProxy(logger);
  await proxy.start(config);
  return {
    proxy,
    logFile,
    configFile: file,
    log: () => fs.readFileSync(logFile, "latin1"),
    upstreams: () => (proxy.pools as Pools).status(),
    reload: () => proxy.apply(loadConfigText(fs.readFileSync(file, "utf8"), file).config),
    stop: async (graceful = false) => {
      await proxy.stop(graceful, 2000);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface Setup {
  proxy: RunningProxy;
  port: number;
}

/** One `server {}` of `protocol` on a free loopback port, server_name mx.example.com, the given auth_http. */
export async function proxyFor(protocol: Protocol, authUrl: string, extra = ""): Promise<Setup> {
  const port = await freePort();
  const proxy = await startProxy(`mail {
    server_name mx.example.com;
    auth_http ${authUrl};
    server {
      listen 127.0.0.1:${port};
      protocol ${protocol};
      ${extra}
    }
  }`);
  return { proxy, port };
}

/** One passthrough `server {}` (`proxy_pass` to the loopback backend on `upstreamPort`, no auth service). */
export async function passthroughProxy(protocol: Protocol, upstreamPort: number, extra = ""): Promise<Setup> {
  const port = await freePort();
  const proxy = await startProxy(`mail {
    server_name mx.example.com;
    server {
      listen 127.0.0.1:${port};
      protocol ${protocol};
      proxy_pass 127.0.0.1:${upstreamPort};
      ${extra}
    }
  }`);
  return { proxy, port };
}
