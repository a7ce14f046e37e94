/**
 * What a test can count to prove that nothing leaked: this process's TCP
 * sockets by port (from /proc/self/fd and /proc/net/tcp{,6}, so it works the
 * same on Bun and Deno), live timers (setTimeout/setInterval through the
 * global functions, which the session, relay and backend code use), the
 * runtime's own list of active handles where it has one (Deno; Bun returns an
 * empty list), and resident memory.
 */
import fs from "node:fs";

interface TcpEntry {
  localPort: number;
  remotePort: number;
  /** Kernel state in hex: 01 ESTABLISHED, 06 TIME_WAIT, 08 CLOSE_WAIT, 0A LISTEN... */
  state: string;
}

function tcpTable(): Map<string, TcpEntry> {
  const byInode = new Map<string, TcpEntry>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(file, "latin1");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const port = (addr: string) => parseInt(addr.slice(addr.lastIndexOf(":") + 1), 16);
      byInode.set(f[9]!, { localPort: port(f[1]!), remotePort: port(f[2]!), state: f[3]! });
    }
  }
  return byInode;
}

/** This process's open TCP sockets with a local or remote port among `ports`, e.g. "143>51234 01". */
export function openSockets(ports: number[]): string[] {
  const wanted = new Set(ports);
  const table = tcpTable();
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = fs.readdirSync("/proc/self/fd");
  } catch {
    return out;
  }
  for (const fd of fds) {
    let target = "";
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^socket:\[(\d+)\]$/.exec(target);
    const entry = m ? table.get(m[1]!) : undefined;
    if (entry && (wanted.has(entry.localPort) || wanted.has(entry.remotePort))) {
      out.push(`${entry.localPort}>${entry.remotePort} ${entry.state}`);
    }
  }
  return out.sort();
}

/** Number of open file descriptors of this process. */
export function openFds(): number {
  try {
    return fs.readdirSync("/proc/self/fd").length;
  } catch {
    return 0;
  }
}

/** The runtime's active handles (Deno lists sockets, servers and ref'd timers; Bun lists nothing). */
export function activeResources(): string[] {
  const info = (process as { getActiveResourcesInfo?: () => string[] }).getActiveResourcesInfo;
  return info ? [...info.call(process)].sort() : [];
}

/**
 * Counts timers started through the global setTimeout/setInterval and not yet
 * fired or cleared, ref'd or not: a timer that outlives its session keeps the
 * session's sockets and buffers alive until it fires.
 */
export class TimerTracker {
  private live = new Map<unknown, string>();
  private originals = {
    setTimeout: globalThis.setTimeout,
    clearTimeout: globalThis.clearTimeout,
    setInterval: globalThis.setInterval,
    clearInterval: globalThis.clearInterval,
  };

  install(): void {
    const { live, originals } = this;
    const g = globalThis as Record<string, unknown>;
    g.setTimeout = function (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) {
      const where = new Error().stack?.split("\n").slice(2, 4).join(" <- ").trim() ?? "";
      const handle = originals.setTimeout((...a: unknown[]) => {
        live.delete(handle);
        fn(...a);
      }, ms, ...args);
      live.set(handle, `${ms}ms ${where}`);
      return handle;
    };
    g.clearTimeout = function (handle: unknown) {
      live.delete(handle);
      return originals.clearTimeout(handle as ReturnType<typeof setTimeout>);
    };
    g.setInterval = function (fn: (...a: unknown[]) => void, ms?: number, ...args: unknown[]) {
      const handle = originals.setInterval(fn, ms, ...args);
      live.set(handle, `interval ${ms}ms`);
      return handle;
    };
    g.clearInterval = function (handle: unknown) {
      live.delete(handle);
      return originals.clearInterval(handle as ReturnType<typeof setInterval>);
    };
  }

  uninstall(): void {
    Object.assign(globalThis, this.originals);
  }

  /** Where each live timer was started (test code's own timers included). */
  pending(): string[] {
    return [...this.live.values()];
  }

  /** Live timers started from src/ (the proxy's own). */
  proxyTimers(): string[] {
    return this.pending().filter((w) => w.includes("/src/"));
  }
}

/** Resident set size in MiB. */
export function rssMiB(): number {
  return process.memoryUsage().rss / (1024 * 1024);
}

/** Ask for a full collection where the runtime allows it from a test. */
export function collectGarbage(): void {
  const bun = (globalThis as { Bun?: { gc(full: boolean): void } }).Bun;
  if (bun) bun.gc(true);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/** Poll `probe` until it returns true or `timeoutMs` passes; returns the last answer. */
export async function eventually(probe: () => boolean, timeoutMs = 5000, stepMs = 50): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
