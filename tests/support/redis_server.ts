/** A real redis-server for the tests that share state through it. */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { RespClient } from "../../src/auth/redis.ts";
import { freePort } from "./ports.ts";
import { tempDir } from "./temp_dir.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface RedisServer {
  port: number;
  url: string;
  stop(): Promise<void>;
}

/** redis-server as a child process: temp dir, free loopback port, no persistence; stopped by PID. */
export async function startRedis(): Promise<RedisServer> {
  const dir = tempDir("mailproxy-redis-");
  const port = await freePort();
  const child: ChildProcess = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir],
    { stdio: "ignore" },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const client = new RespClient({ host: "127.0.0.1", port, timeoutMs: 500 });
  try {
    for (let i = 0;; i++) {
      const pong = await client.pipeline([["PING"]]).catch(() => null);
      if (pong?.[0] === "PONG") break;
      if (i > 100) throw new Error("redis-server did not start");
      await sleep(50);
    }
  } finally {
    client.close();
  }
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      process.kill(child.pid!, "SIGTERM");
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

