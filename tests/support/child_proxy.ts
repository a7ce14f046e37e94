/**
 * Helpers for the operations tests: a scripted IMAP backend that streams a
 * payload on demand, and mailproxy run as a child process of the same runtime
 * (`bun src/main.ts` / `deno run -A src/main.ts`) so real signals reach it.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import crypto from "node:crypto";
import { type ChildProcess, spawn } from "node:child_process";
import { type ScriptedBackend, startScriptedBackend } from "./scripted_backend.ts";
import { ensureBinary, waitForPort } from "./binary.ts";
import { WireClient } from "./wire.ts";
import { REPO_ROOT } from "./repo.ts";
import { parseProxyHeader } from "../../src/server/proxy_protocol_in.ts";
import { tempDir } from "./temp_dir.ts";


/** The payload `a2 FETCH` streams: `size` pseudo-random bytes, sent in `chunk`-byte pieces every `everyMs`. */
export function payload(size: number): Buffer {
  const out = Buffer.alloc(size);
  let x = 12345;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function sha256(data: Buffer | string): string {
  return crypto.createHash("sha256").update(typeof data === "string" ? Buffer.from(data, "latin1") : data).digest("hex");
}

/**
 * An IMAP backend accepting the proxy's literal LOGIN for anyone (with or without
 * a PROXY header first). After login, `a2 FETCH` gets `payload(size)` slowly,
 * then `a2 OK done`; LOGOUT gets BYE, OK and a close; any other tagged line gets `<tag> OK`.
 */
export function imapBackend(stream = { size: 1 << 20, chunk: 16384, everyMs: 5 }): Promise<ScriptedBackend> {
  return startScriptedBackend((c) => {
    let lines = 0;
    let seen = 0;
    c.send("* OK backend ready\r\n");
    c.socket.on("data", () => {
      const data = Buffer.from(c.received(), "latin1");
      const header = parseProxyHeader(data);
      const start = header.type === "ok" ? header.consumed : 0;
      const all = data.subarray(start).toString("latin1").split("\r\n");
      for (; seen < all.length - 1; seen++) {
        lines++;
        const line = all[seen]!;
        if (lines <= 2) c.send("+ OK\r\n");
        else if (lines === 3) c.send("a1 OK logged in\r\n");
        else if (line === "a2 FETCH") streamPayload(c.socket, stream);
        else if (line.endsWith(" LOGOUT")) {
          c.send(`* BYE\r\n${line.split(" ")[0]} OK\r\n`);
          c.socket.end();
        }
        else c.send(`${line.split(" ")[0]} OK\r\n`);
      }
    });
  });
}

function streamPayload(socket: import("node:net").Socket, s: { size: number; chunk: number; everyMs: number }): void {
  const data = payload(s.size);
  let at = 0;
  const tick = () => {
    if (socket.destroyed) return;
    if (at >= data.length) {
      socket.write("a2 OK done\r\n");
      return;
    }
    socket.write(data.subarray(at, at + s.chunk));
    at += s.chunk;
    setTimeout(tick, s.everyMs);
  };
  tick();
}

export interface ChildProxy {
  child: ChildProcess;
  dir: string;
  confFile: string;
  logFile: string;
  pidFile: string;
  log(): string;
  output(): string;
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string | null>;
  /** Resolves once the log contains `text` (count occurrences ≥ n). */
  waitForLog(text: string, n?: number, timeoutMs?: number): Promise<void>;
  /** Rewrite the config (same %LOG%/%PID% substitution). */
  rewrite(configText: string): void;
  kill(signal: NodeJS.Signals): void;
  cleanup(): Promise<void>;
}

/** How to run src/main.ts with the runtime running the tests. */
export function mailproxyCommand(): string[] {
  const deno = (globalThis as { Deno?: unknown }).Deno !== undefined;
  return [process.execPath, ...(deno ? ["run", "-A"] : []), path.join(REPO_ROOT, "src/main.ts")];
}

/**
 * The compiled binary, copied where any user can run it. Another user may not reach the
 * checkout at all (a clone in a 0700 temp dir, as `mktemp -d` makes), so neither the
 * runtime in node_modules nor src/main.ts; copied once per test process.
 */
let sharedBinary: string | undefined;
function binaryForAnyUser(): string {
  if (!sharedBinary) {
    const dir = tempDir("mailproxy-bin-");
    fs.chmodSync(dir, 0o755);
    sharedBinary = path.join(dir, "mailproxy");
    fs.copyFileSync(ensureBinary(), sharedBinary);
    fs.chmodSync(sharedBinary, 0o755);
    process.on("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return sharedBinary;
}

/** The uid and gid of nobody and nogroup on Debian, for running mailproxy as an unprivileged user. */
export const NOBODY = { uid: 65534, gid: 65534 };

/**
 * Start mailproxy on `configText` (`%LOG%` and `%PID%` replaced by files in a temp
 * dir; include `daemon off;`) and wait until `port` accepts connections. `as`:
 * the compiled binary started as that user instead of the test's own (root), owning the temp dir.
 */
export async function startChildProxy(
  configText: string,
  port: number,
  args: string[] = [],
  as?: { uid: number; gid: number },
  env: Record<string, string> = {},
): Promise<ChildProxy> {
  const dir = tempDir("mailproxy-ops-");
  // as /var/log/nginx: workers started as root run as nobody and reopen their logs here by name
  fs.chmodSync(dir, 0o755);
  if (as) fs.chownSync(dir, as.uid, as.gid);
  const logFile = path.join(dir, "error.log");
  const pidFile = path.join(dir, "mailproxy.pid");
  const confFile = path.join(dir, "mailproxy.conf");
  const write = (text: string) => fs.writeFileSync(confFile, text.replaceAll("%LOG%", logFile).replaceAll("%PID%", pidFile).replaceAll("%DIR%", dir));
  write(configText);
  const [cmd, ...base] = as ? [binaryForAnyUser()] : mailproxyCommand();
  // the user's own dir as working directory too: it may not be allowed into ours
  const user = as ? { ...as, cwd: dir, env: { ...process.env, HOME: dir, ...env } } : { env: { ...process.env, ...env } };
  const child = spawn(cmd!, [...base, ...args, "-c", confFile], { stdio: ["ignore", "pipe", "pipe"], ...user });
  let output = "";
  child.stdout!.on("data", (d) => (output += d));
  child.stderr!.on("data", (d) => (output += d));
  const exited = new Promise<number | string | null>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal)));
  const started = await Promise.race([waitForPort(port, "127.0.0.1", 30_000).then(() => true), exited.then(() => false)]);
  if (!started) throw new Error(`mailproxy exited before listening: ${output}`);
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "latin1") : "");
  // signal handlers are in place once "mailproxy started" is logged; a signal before that would kill it
  for (const deadline = Date.now() + 30_000; !/mailproxy started/.test(log());) {
    if (Date.now() > deadline) throw new Error(`mailproxy never logged "mailproxy started": ${output}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    child,
    dir,
    confFile,
    logFile,
    pidFile,
    log,
    output: () => output,
    exited,
    async waitForLog(text, n = 1, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (log().split(text).length - 1 < n) {
        if (Date.now() > deadline) throw new Error(`log never showed ${JSON.stringify(text)} x${n}:\n${log()}\n${output}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    rewrite: write,
    // process.kill, not child.kill: Deno's child_process reports a child it signalled as killed by that signal even when it exits 0
    kill: (signal) => process.kill(child.pid!, signal),
    async cleanup() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGKILL");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The CAPABILITY line a new connection to `port` gets (the test configs set imap_capabilities). */
export async function capability(port: number): Promise<string> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), "* OK IMAP4 ready");
  c.send("c CAPABILITY\r\n");
  const line = await c.line();
  c.close();
  return line;
}

/** A session on `port` logged in as john (the ops tests' auth service says OK to anyone). */
export async function loggedIn(port: number): Promise<WireClient> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), "* OK IMAP4 ready");
  c.send("a1 LOGIN john secret\r\n");
  assert.equal(await c.line(), "a1 OK logged in");
  return c;
}
