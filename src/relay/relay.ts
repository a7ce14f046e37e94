/**
 * The byte pump after login (protocols.md §8): unchanged bytes both ways with
 * back-pressure, no half-close, and nginx's proxy_timeout rule (only client-side
 * activity re-arms the idle timer).
 *
 * A relay lives as long as its session, often hours and by the thousand, so its
 * state is one object that owns both sockets (src/net/): no closures per session.
 */
import type { NetSocket, SocketOwner } from "../net/socket.ts";
import { type IdleGroup, idleGroup, type IdleMember } from "./idle_timers.ts";

export type RelayEnd = "client-closed" | "backend-closed" | "client-error" | "backend-error" | "idle-timeout" | "shutdown";

export interface RelayHandle {
  /** Bytes client → backend. */
  readonly up: number;
  /** Bytes backend → client. */
  readonly down: number;
  /** Stop now (fast shutdown). */
  abort(): void;
  /** `goodbye` to the client after what is already on its way, then both sides close. */
  kick(goodbye: Buffer): void;
}

/** Told once, when both sockets are closed, how the relay ended. */
interface RelayOwner {
  relayEnded(end: RelayEnd): void;
}

/**
 * Start relaying. Sockets must be paused; `pendingUp` (client bytes buffered
 * behind the authenticating command) goes to the backend first.
 */
export function relay(client: NetSocket, backend: NetSocket, idleMs: number, pendingUp: string, owner: RelayOwner): RelayHandle {
  return new Relay(client, backend, idleMs, pendingUp, owner);
}

class Relay implements RelayHandle, SocketOwner, IdleMember {
  // The counts are the relay's own fields: no object of their own for each of thousands of sessions.
  up = 0;
  down = 0;
  private ended: RelayEnd | null = null;
  private clientClosed = false;
  private backendClosed = false;
  private reported = false;
  /** When the client was last active (only its activity re-arms proxy_timeout); kept by the idle group. */
  lastActive = 0;
  private readonly idle: IdleGroup;
  /** After a flushing stop: the bound on each side's last writes. */
  private clientFlush?: ReturnType<typeof setTimeout>;
  private backendFlush?: ReturnType<typeof setTimeout>;

  constructor(
    private readonly client: NetSocket,
    private readonly backend: NetSocket,
    idleMs: number,
    pendingUp: string,
    private readonly owner: RelayOwner,
  ) {
    this.idle = idleGroup(idleMs);
    this.idle.add(this);
    client.owner = this;
    backend.owner = this;
    if (pendingUp) {
      this.up += pendingUp.length;
      backend.write(Buffer.from(pendingUp, "latin1"));
    }
    client.resume();
    backend.resume();
  }

  abort(): void {
    this.stop("shutdown", false);
  }

  kick(goodbye: Buffer): void {
    if (this.ended) return;
    this.client.write(goodbye);
    this.stop("shutdown", true);
  }

  socketData(from: NetSocket, chunk: Buffer): void {
    if (this.ended) return;
    if (from === this.client) {
      this.up += chunk.length;
      this.lastActive = performance.now();
      if (!this.backend.write(chunk)) this.client.pause();
    } else {
      this.down += chunk.length;
      if (!this.client.write(chunk)) this.backend.pause();
    }
  }

  /** `to` can take more: let its peer's bytes flow again. */
  socketDrain(to: NetSocket): void {
    if (to === this.client) this.lastActive = performance.now();
    if (!this.ended) (to === this.client ? this.backend : this.client).resume();
  }

  socketEnd(from: NetSocket): void {
    this.peerEnded(from, "closed");
  }

  socketError(from: NetSocket): void {
    this.peerEnded(from, "error");
  }

  private peerEnded(from: NetSocket, how: "closed" | "error"): void {
    const side = from === this.client ? "client" : "backend";
    this.stop(`${side}-${how}`, how === "closed");
  }

  socketClose(s: NetSocket): void {
    if (s === this.client) {
      this.clientClosed = true;
      clearTimeout(this.clientFlush);
    } else {
      this.backendClosed = true;
      clearTimeout(this.backendFlush);
    }
    this.peerEnded(s, "closed");
    this.reportWhenClosed();
  }

  stop(reason: RelayEnd, flush: boolean): void {
    if (this.ended) return;
    this.ended = reason;
    this.idle.remove(this);
    const { client, backend } = this;
    if (flush) {
      // Finish writing what is already queued in each direction, then close both.
      for (const s of [client, backend]) {
        // The side that sent end-of-file and has nothing queued: close() sends the same FIN as end() would,
        // without a shutdown() syscall and a 30 s timer (the usual LOGOUT/QUIT: the backend closes first).
        if (s.peerEnded && s.queued === 0) {
          s.destroy();
          continue;
        }
        // keep reading (and dropping) so a peer's end-of-file is seen and `close` fires on every runtime
        s.resume();
        s.end();
        // a peer that never reads must not hold the session forever
        if (s === client ? this.clientClosed : this.backendClosed) continue;
        const timer = setTimeout(destroySocket, 30_000, s);
        timer.unref();
        if (s === client) this.clientFlush = timer;
        else this.backendFlush = timer;
      }
    } else {
      client.destroy();
      backend.destroy();
    }
    this.reportWhenClosed();
  }

  idleExpired(): void {
    this.stop("idle-timeout", false);
  }

  private reportWhenClosed(): void {
    if (!this.ended || !this.clientClosed || !this.backendClosed || this.reported) return;
    this.reported = true;
    this.client.owner = this.backend.owner = undefined;
    this.owner.relayEnded(this.ended);
  }
}

function destroySocket(s: NetSocket): void {
  s.destroy();
}
