/**
 * The byte pump after login (protocols.md §8): unchanged bytes both ways with
 * back-pressure, no half-close, and nginx's proxy_timeout rule (only client-side
 * activity re-arms the idle timer).
 */
import type { Duplex } from "node:stream";

export interface RelayStats {
  /** Bytes client → backend. */
  up: number;
  /** Bytes backend → client. */
  down: number;
}

export type RelayEnd = "client-closed" | "backend-closed" | "client-error" | "backend-error" | "idle-timeout" | "shutdown";

export interface RelayHandle {
  stats: RelayStats;
  /** Resolves once both sockets are closed. */
  done: Promise<RelayEnd>;
  /** Stop now (fast shutdown). */
  abort(): void;
}

/**
 * Start relaying. Sockets must be paused; `pendingUp` (client bytes buffered
 * behind the authenticating command) goes to the backend first.
 */
export function relay(client: Duplex, backend: Duplex, idleMs: number, pendingUp = ""): RelayHandle {
  const stats: RelayStats = { up: 0, down: 0 };
  let finish!: (end: RelayEnd) => void;
  const done = new Promise<RelayEnd>((resolve) => (finish = resolve));
  let ended: RelayEnd | null = null;

  const idle = setTimeout(() => stop("idle-timeout", false), idleMs > 0x7fffffff ? 0x7fffffff : idleMs);
  const touch = () => idle.refresh();

  function stop(reason: RelayEnd, flush: boolean) {
    if (ended) return;
    ended = reason;
    clearTimeout(idle);
    for (const s of [client, backend]) s.removeListener("data", s === client ? onClientData : onBackendData);
    if (flush) {
      // Finish writing what is already queued in each direction, then close both.
      for (const s of [client, backend]) {
        // The side that sent end-of-file and has nothing queued: close() sends the same FIN as end() would,
        // without a shutdown() syscall and a 30 s timer (the usual LOGOUT/QUIT: the backend closes first).
        if (s.readableEnded && s.writableLength === 0) {
          s.destroy();
          continue;
        }
        // keep reading (and dropping) so a peer's end-of-file is seen and `close` fires on every runtime
        s.resume();
        s.end();
        // a peer that never reads must not hold the session forever
        if (s === client ? clientClosed : backendClosed) continue;
        const timer = setTimeout(() => s.destroy(), 30_000);
        timer.unref();
        // ...and once it is closed the timer must not hold the sockets either
        s.once("close", () => clearTimeout(timer));
      }
    } else {
      client.destroy();
      backend.destroy();
    }
    settleWhenClosed();
  }

  let clientClosed = false;
  let backendClosed = false;
  function settleWhenClosed() {
    if (ended && clientClosed && backendClosed) finish(ended);
  }
  client.on("close", () => {
    clientClosed = true;
    stop("client-closed", true);
    settleWhenClosed();
  });
  backend.on("close", () => {
    backendClosed = true;
    stop("backend-closed", true);
    settleWhenClosed();
  });

  function onClientData(chunk: Buffer) {
    stats.up += chunk.length;
    touch();
    if (!backend.write(chunk)) client.pause();
  }
  function onBackendData(chunk: Buffer) {
    stats.down += chunk.length;
    if (!client.write(chunk)) backend.pause();
  }

  client.on("data", onClientData);
  backend.on("data", onBackendData);
  backend.on("drain", () => ended || client.resume());
  client.on("drain", () => {
    touch();
    if (!ended) backend.resume();
  });
  client.on("end", () => stop("client-closed", true));
  backend.on("end", () => stop("backend-closed", true));
  client.on("error", () => stop("client-error", false));
  backend.on("error", () => stop("backend-error", false));

  if (pendingUp) {
    stats.up += pendingUp.length;
    backend.write(Buffer.from(pendingUp, "latin1"));
  }
  client.resume();
  backend.resume();

  return { stats, done, abort: () => stop("shutdown", false) };
}
