/**
 * The client connection under a session: its socket and the session's timers,
 * carrying out the core's byte and timer actions (write, pause, resume, arm and
 * clear timers, close) and turning socket events into the session's calls. The
 * one place that knows the socket API, so that another socket layer is another
 * version of this file (issue 15).
 *
 * A session lives as long as its client, often hours and by the thousand: the
 * socket listeners and timer callbacks are shared module functions that find the
 * session on the socket (`this` of a listener is the emitting socket) or get it as
 * an argument, so there are no closures per session.
 */
import type net from "node:net";
import type { SessionTimer } from "./session_core.ts";

type Timer = ReturnType<typeof setTimeout>;

const TIMER_SLOT: Record<SessionTimer, number> = { idle: 0, write: 1, flush: 2, greeting: 3, "auth-wait": 4, turn: 5 };

/** Node timers overflow above this many ms. */
const MAX_TIMER_MS = 0x7fffffff;

export abstract class ClientLink {
  /** One slot per SessionTimer (TIMER_SLOT); `turn` holds an Immediate. */
  private readonly timers: Array<Timer | ReturnType<typeof setImmediate> | undefined> = [];

  constructor(protected socket: net.Socket) {}

  // The socket's events and the timers, for the session.
  abstract clientBytes(bytes: string): void;
  abstract drained(): void;
  abstract clientError(err: Error): void;
  abstract clientClosed(): void;
  abstract timerFired(timer: SessionTimer): void;

  /** Write to the client; false once the write waits for the client to read. */
  write(data: string): boolean {
    if (this.socket.destroyed) return true;
    return this.socket.write(Buffer.from(data, "latin1"));
  }

  queued(): number {
    return this.socket.destroyed ? 0 : this.socket.writableLength;
  }

  awaitDrain(): void {
    this.socket.once("drain", onClientDrain);
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  armTimer(timer: SessionTimer, ms: number): void {
    this.clearTimer(timer);
    if (timer === "turn") {
      this.timers[TIMER_SLOT.turn] = setImmediate(fireTimer, this, timer);
      return;
    }
    const handle = setTimeout(fireTimer, Math.min(ms, MAX_TIMER_MS), this, timer);
    // The flush bound must not keep a stopping process up.
    if (timer === "flush") handle.unref();
    this.timers[TIMER_SLOT[timer]] = handle;
  }

  /** A cleared timer object kept in its slot would still cost memory for the session's life. */
  clearTimer(timer: SessionTimer): void {
    const slot = TIMER_SLOT[timer];
    const handle = this.timers[slot];
    if (handle === undefined) return;
    if (timer === "turn") clearImmediate(handle as ReturnType<typeof setImmediate>);
    else clearTimeout(handle as Timer);
    this.timers[slot] = undefined;
  }

  closeAfterWrite(): void {
    this.socket.end();
    // Read (and ignore) what still comes, so that the client's own close is seen.
    this.socket.resume();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Error and close events of `socket` (the accepted one, then a TLS one) reach this session. */
  protected listenToClient(socket: net.Socket): void {
    (socket as ClientSocket)[LINK] = this;
    socket.on("error", onClientError);
    socket.on("close", onClientClose);
  }

  /** The client's bytes go to `clientBytes()` from now on. */
  protected readClient(): void {
    this.socket.on("data", onClientData);
  }

  protected stopReadingClient(): void {
    this.socket.removeListener("data", onClientData);
  }

  /** @internal the timer callback's way in */
  timerDue(timer: SessionTimer): void {
    this.timers[TIMER_SLOT[timer]] = undefined;
    this.timerFired(timer);
  }
}

const LINK = Symbol("client link");
type ClientSocket = net.Socket & { [LINK]?: ClientLink };

function onClientData(this: ClientSocket, chunk: Buffer): void {
  this[LINK]?.clientBytes(chunk.toString("latin1"));
}
function onClientDrain(this: ClientSocket): void {
  this[LINK]?.drained();
}
function onClientError(this: ClientSocket, err: Error): void {
  this[LINK]?.clientError(err);
}
function onClientClose(this: ClientSocket): void {
  this[LINK]?.clientClosed();
}
function fireTimer(link: ClientLink, timer: SessionTimer): void {
  link.timerDue(timer);
}
