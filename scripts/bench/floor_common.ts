/**
 * What the two benchmark floors (floor_pipe.ts, floor_native.ts) share: their
 * command line and their worker processes.
 *
 *   bun floor_….ts WORKERS CERT KEY LISTEN:BACKEND[:tls] ...
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";

export interface FloorRoute {
  port: number;
  backendPort: number;
  tls: boolean;
}

export function floorArgs(): { workers: number; cert: string; key: string; routes: FloorRoute[] } {
  const [workers, certFile, keyFile, ...routes] = process.argv.slice(2);
  return {
    workers: Number(workers),
    cert: fs.readFileSync(certFile!, "utf8"),
    key: fs.readFileSync(keyFile!, "utf8"),
    routes: routes.map((route) => {
      const [port, backend, mode] = route.split(":");
      return { port: Number(port), backendPort: Number(backend), tls: mode === "tls" };
    }),
  };
}

/** What the runtime needs before the script to run it again: Deno's `run` and its permissions. */
function runtimeArgs(): string[] {
  return (globalThis as { Deno?: unknown }).Deno ? ["run", "-A", "--unstable-net"] : [];
}

/**
 * More workers: the same script again, sharing the ports with SO_REUSEPORT (the
 * caller listens with reusePort when workers > 1). On SIGTERM the first process
 * exits only once the workers have: the next proxy under test binds the same ports.
 */
export function startFloorWorkers(workers: number): void {
  const children: ChildProcess[] = [];
  if (workers > 1 && !process.env.FLOOR_WORKER) {
    for (let i = 1; i < workers; i++) {
      children.push(spawn(process.execPath, [...runtimeArgs(), ...process.argv.slice(1)], { env: { ...process.env, FLOOR_WORKER: "1" }, stdio: "inherit" }));
    }
  }
  process.on("SIGTERM", () => {
    let running = children.length;
    if (running === 0) process.exit(0);
    for (const child of children) {
      child.once("exit", () => --running === 0 && process.exit(0));
      child.kill("SIGTERM");
    }
  });
}
