/**
 * The client connection under a session: its socket and the session's timers,
 * carrying out the core's byte and timer actions (write, pause, resume, arm and
 * clear timers, close) and turning socket events into the session's calls. The
 * one place that knows the socket interface (src/net/socket.ts), whichever
 * socket layer is under it.
 *
 * A session lives as long as its client, often hours and by the thousand: the
 * socket listeners and timer callbacks are shared module functions that find the
 * session on the socket (the link owns its socket: src/net/) or get it as an
 * argument, so there are no closures per session.
 */
import type { NetSocket, SocketOwner } from "../net/socket.ts";
import type { SessionTimer } from "./session_core.ts";

type Timer = ReturnType<typeof setTimeout>;

const TIMER_SLOT: Record<SessionTimer, number> = { idle: 0, write: 1, flush: 2, greeting: 3, "auth-wait": 4, turn: 5 };

/** Node timers overflow above this many ms. */
const MAX_TIMER_MS = 0x7fffffff;

export abstract class ClientLink implements SocketOwner {
  /**
   * One slot per SessionTimer (TIMER_SLOT); `turn` holds an Immediate. Made by the first
   * timer and dropped when none is left: a relayed session has none for its whole life.
   */
  private timers?: Array<Timer | ReturnType<typeof setImmediate> | undefined>;
  private waitingDrain = false;

  constructor(protected socket: NetSocket) {
    socket.owner = this;
  }

  // The socket's events and the timers, for the session.
  abstract clientBytes(bytes: string): void;
  abstract drained(): void;
  abstract clientError(err: Error): void;
  abstract clientClosed(): void;
  abstract timerFired(timer: SessionTimer): void;

  /** Write to the client; false once the write waits for the client to read. */
  write(data: string): boolean {
    return this.socket.write(Buffer.from(data, "latin1"));
  }

  queued(): number {
    return this.socket.queued;
  }

  awaitDrain(): void {
    this.waitingDrain = true;
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  armTimer(timer: SessionTimer, ms: number): void {
    this.clearTimer(timer);
    const timers = this.timers ??= [];
    if (timer === "turn") {
      timers[TIMER_SLOT.turn] = setImmediate(fireTimer, this, timer);
      return;
    }
    const handle = setTimeout(fireTimer, Math.min(ms, MAX_TIMER_MS), this, timer);
    // The flush bound must not keep a stopping process up.
    if (timer === "flush") handle.unref();
    timers[TIMER_SLOT[timer]] = handle;
  }

  /** A cleared timer object kept in its slot would still cost memory for the session's life. */
  clearTimer(timer: SessionTimer): void {
    const handle = this.timers?.[TIMER_SLOT[timer]];
    if (handle === undefined) return;
    if (timer === "turn") clearImmediate(handle as ReturnType<typeof setImmediate>);
    else clearTimeout(handle as Timer);
    this.unset(timer);
  }

  private unset(timer: SessionTimer): void {
    const timers = this.timers!;
    timers[TIMER_SLOT[timer]] = undefined;
    if (timers.every(isUnset)) this.timers = undefined;
  }

  closeAfterWrite(): void {
    this.socket.end();
    // Read (and ignore) what still comes, so that the client's own close is seen.
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  // ---- the socket's events (SocketOwner) ----
  socketData(_socket: NetSocket, chunk: Buffer): void {
    this.clientBytes(chunk.toString("latin1"));
  }
  socketDrain(): void {
    if (!this.waitingDrain) return;
    this.waitingDrain = false;
    this.drained();
  }
  socketEnd(): void {
    // the socket ends its side too; its close follows
  }
  socketError(_socket: NetSocket, err: Error): void {
    this.clientError(err);
  }
  socketClose(): void {
    this.clientClosed();
  }

  /** @internal the timer callback's way in */
  timerDue(timer: SessionTimer): void {
    this.unset(timer);
    this.timerFired(timer);
  }
}

function isUnset(handle: unknown): boolean {
  return handle === undefined;
}

function fireTimer(link: ClientLink, timer: SessionTimer): void {
  link.timerDue(timer);
}
