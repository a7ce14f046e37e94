/**
 * One connection to the auth service and the owner of its socket (src/net/) for its
 * whole life: an exchange (the request out, the response head in), then, when it is
 * pooled, skipping the body and waiting idle for the next exchange. One object per
 * connection with the exchange's state in fields: no closures and no event listeners
 * per request (the login path runs this once per login).
 */
import { setTimeout } from "node:timers";
import type { NetSocket, SocketOwner } from "../net/socket.ts";
import type { AuthResult } from "./types.ts";
import type { Wire } from "../wire/wire.ts";
import {
  type AuthDecision,
  connectionReuse,
  decideAuthResponse,
  type DecisionContext,
  headErrorReason,
  type ResponseHead,
  ResponseHeadParser,
} from "./response.ts";
import { BodyDrain } from "./body_drain.ts";
import { describeSocketError, failedCall } from "./socket_errors.ts";
import type { LeaveSignal } from "./client_left.ts";

/** Where the auth service listens, resolved once. `name` is how nginx names it in logs. */
export type Target =
  | { kind: "tcp"; address: string; port: number; name: string }
  | { kind: "unix"; path: string; name: string };

/** One request/response exchange on one connection. */
export type Exchange =
  | { type: "decision"; decision: AuthDecision }
  /** A pooled connection died before answering: try once more on a fresh one. */
  | { type: "stale" };

/** What one exchange sends and how its answer is judged. */
export interface ExchangeJob {
  target: Target;
  text: Wire<"http">;
  /** Date.now() by which the response head must be complete. */
  deadline: number;
  /** What the answer is judged against (decideAuthResponse). */
  context: DecisionContext;
  signal?: LeaveSignal;
}

/** The pool a connection returns to (AuthHttpClient). */
export interface ConnectionPool {
  /** Whether a connection may be kept after its answer (keep-alive on, client not closed). */
  readonly reusing: boolean;
  /** Timeout of the body drain, in ms. */
  readonly drainMs: number;
  park(connection: AuthConnection): void;
  /** An idle connection went bad: out of the pool and closed. */
  dropIdle(connection: AuthConnection): void;
}

/** Node timers overflow above this many ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function internal(reason: string): AuthResult {
  return { type: "internal", reason };
}

/** No answer at all: another auth_http URL may be tried (multi_url.ts). */
export function unreachable(reason: string): AuthResult {
  return { type: "internal", reason, unreachable: true };
}

/** The client left while its login was being decided; nobody reads this answer. */
export const CLIENT_GONE: AuthResult = internal("client closed connection while in http auth state");

type Phase = "exchange" | "drain" | "idle" | "done";

export class AuthConnection implements SocketOwner {
  /** Set right after construction: the socket layer wants its owner when connecting. */
  socket!: NetSocket;
  private phase: Phase = "done";
  private connected = false;
  // The current exchange.
  private job?: ExchangeJob;
  private reused = false;
  private answered = false;
  private parser?: ResponseHeadParser;
  private settle?: (outcome: Exchange) => void;
  private timer?: ReturnType<typeof setTimeout>;
  // Skipping the body of a pooled answer.
  private drain?: BodyDrain;

  constructor(private readonly pool: ConnectionPool) {}

  /** Send `job` and read the answer's head; never rejects. */
  exchange(job: ExchangeJob, reused: boolean): Promise<Exchange> {
    return new Promise<Exchange>((resolve) => {
      this.phase = "exchange";
      this.job = job;
      this.reused = reused;
      this.answered = false;
      this.parser = new ResponseHeadParser();
      this.settle = resolve;
      this.timer = setTimeout(exchangeTimedOut, Math.min(Math.max(job.deadline - Date.now(), 0), MAX_TIMER_MS), this);
      // `this` is the listener (handleEvent): no closure per request.
      job.signal?.addEventListener("abort", this, { once: true });
      if (reused) this.socket.ref();
      this.socket.resume();
      this.socket.write(Buffer.from(job.text, "latin1"));
    });
  }

  /** Close it, whatever it was doing; nothing is told afterwards. */
  discard(): void {
    this.phase = "done";
    clearTimeout(this.timer);
    this.socket.owner = undefined;
    this.socket.destroy();
  }

  /** @internal the client left (the abort signal's listener) */
  handleEvent(): void {
    this.finish({ type: "decision", decision: CLIENT_GONE });
  }

  /** @internal */
  timedOut(): void {
    if (this.phase === "exchange") return this.down(`auth http server ${this.job!.target.name} timed out`);
    if (this.phase === "drain") this.discard();
  }

  // ---- the socket's events (SocketOwner) ----
  socketConnect(): void {
    this.connected = true;
  }
  socketData(_s: NetSocket, chunk: Buffer): void {
    if (this.phase === "exchange") this.headBytes(chunk.toString("latin1"));
    else if (this.phase === "drain") this.bodyBytes(chunk.toString("latin1"));
    // Bytes from an idle server are an answer to nothing: the connection is out of step.
    else if (this.phase === "idle") this.pool.dropIdle(this);
  }
  socketDrain(): void {}
  socketEnd(): void {
    // During an exchange the close that follows decides.
    this.gone();
  }
  socketError(_s: NetSocket, err: Error): void {
    if (this.phase !== "exchange") return this.gone();
    if (this.reused && !this.answered) return this.finish({ type: "stale" });
    const call = failedCall(err, this.connected);
    const target = this.job!.target;
    const where = call === "connect()" && target.kind === "unix" ? `connect() to ${target.name}` : call;
    this.down(`${where} failed ${describeSocketError(err)} while in http auth state`);
  }
  socketClose(): void {
    if (this.phase !== "exchange") return this.gone();
    if (this.reused && !this.answered) return this.finish({ type: "stale" });
    this.down(`auth http server ${this.job!.target.name} prematurely closed connection`);
  }

  /** The server ended or dropped the connection outside an exchange. */
  private gone(): void {
    if (this.phase === "drain") this.discard();
    else if (this.phase === "idle") this.pool.dropIdle(this);
  }

  private headBytes(text: string): void {
    this.answered = true;
    const target = this.job!.target;
    let step;
    try {
      step = this.parser!.feed(text);
    } catch (err) {
      return this.fail(`auth http server ${target.name} sent invalid response (${String(err)})`);
    }
    if (step.type === "more") return;
    if (step.type === "error") return this.fail(headErrorReason(step.error, target.name));
    const decision = decideAuthResponse(step.head, this.job!.context);
    const reusable = this.pool.reusing;
    this.finish({ type: "decision", decision }, reusable);
    if (reusable) this.afterHeaders(step.head, step.rest);
  }

  private fail(reason: string): void {
    this.finish({ type: "decision", decision: internal(reason) });
  }
  private down(reason: string): void {
    this.finish({ type: "decision", decision: unreachable(reason) });
  }

  private finish(outcome: Exchange, keep = false): void {
    if (this.phase !== "exchange") return;
    this.phase = "done";
    clearTimeout(this.timer);
    this.timer = undefined;
    this.job!.signal?.removeEventListener("abort", this);
    const settle = this.settle!;
    this.job = this.settle = this.parser = undefined;
    if (!keep) this.discard();
    settle(outcome);
  }

  /**
   * Pooling only: skip the body, then keep the connection if the server allows it and
   * the body's end is known; otherwise close it.
   */
  private afterHeaders(head: ResponseHead, rest: string): void {
    const reuse = connectionReuse(head);
    if (!reuse.keepAlive || reuse.framing.kind === "unknown") return this.discard();
    const drain = new BodyDrain(reuse.framing);
    const state = rest.length > 0 ? drain.feed(rest) : drain.current;
    if (state === "done") return this.pool.park(this);
    if (state === "unusable") return this.discard();
    this.phase = "drain";
    this.drain = drain;
    // Draining is housekeeping: it must not keep the process alive.
    this.timer = setTimeout(exchangeTimedOut, Math.min(this.pool.drainMs, MAX_TIMER_MS), this);
    this.timer.unref();
    this.socket.unref();
  }

  private bodyBytes(text: string): void {
    const next = this.drain!.feed(text);
    if (next === "more") return;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.drain = undefined;
    if (next === "done") this.pool.park(this);
    else this.discard();
  }

  /** In the pool, watched: the server may drop it or, out of step, send bytes. */
  idle(): void {
    this.phase = "idle";
    // An idle connection must not keep the process alive.
    this.socket.unref();
  }
}

function exchangeTimedOut(connection: AuthConnection): void {
  connection.timedOut();
}
