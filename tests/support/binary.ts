/**
 * Runs the compiled `dist/mailproxy` as a child process, as an operator would,
 * building it first when it is missing.
 */
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { REPO_ROOT } from "./repo.ts";
import { tempDir } from "./temp_dir.ts";

export const BINARY = path.join(REPO_ROOT, "dist/mailproxy");

/** Build dist/mailproxy once per test run when it is absent. */
export function ensureBinary(): string {
  if (!fs.existsSync(BINARY)) {
    const r = spawnSync("make", ["build"], { cwd: REPO_ROOT, stdio: "inherit" });
    if (r.status !== 0) throw new Error("make build failed");
  }
  return BINARY;
}

export interface RunningBinary {
  child: ChildProcess;
  dir: string;
  logFile: string;
  log(): string;
  output(): string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Wait until something accepts connections on host:port. */
export async function waitForPort(port: number, host = "127.0.0.1", timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, host, () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on ${host}:${port}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Write `configText` (with `%LOG%` replaced by a log file path) to a temp dir as
 * `fileName`, start `dist/mailproxy ...args -c FILE` and wait for `port`.
 */
export async function runBinary(
  configText: string,
  port: number,
  opts: { fileName?: string; args?: string[] } = {},
): Promise<RunningBinary> {
  ensureBinary();
  const dir = tempDir("mailproxy-bin-");
  const logFile = path.join(dir, "error.log");
  const file = path.join(dir, opts.fileName ?? "mailproxy.conf");
  fs.writeFileSync(file, configText.replaceAll("%LOG%", logFile));
  const child = spawn(BINARY, [...(opts.args ?? []), "-c", file], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const started = await Promise.race([waitForPort(port).then(() => true), exited.then(() => false)]);
  if (!started) throw new Error(`mailproxy exited before listening: ${output}`);
  return {
    child,
    dir,
    logFile,
    log: () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "latin1") : ""),
    output: () => output,
    stop: async (signal = "SIGTERM") => {
      child.kill(signal);
      const code = await exited;
      fs.rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}
