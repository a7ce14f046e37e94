/**
 * The auth_http client (auth-http.md §1, §5.3, §7): sends the request, reads
 * the header block, and turns every outcome into an AuthResult. It never
 * throws and no auth server behaviour (silence, garbage, early close, a huge
 * answer) can crash it.
 *
 * With `keepalive` 0 it behaves exactly like nginx: HTTP/1.0, one connection
 * per request, closed right after the headers. With `keepalive` > 0 (beyond
 * nginx) it speaks HTTP/1.1 and keeps up to that many idle connections.
 */
import net from "node:net";
import dns from "node:dns";
import { setTimeout } from "node:timers";
import type { AuthHttpUrl } from "../config/model.ts";
import type { Logger, SessionContext } from "../log/logger.ts";
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";
import { buildAuthRequest } from "./request.ts";
import type { Wire } from "../wire/wire.ts";
import {
  type AuthDecision,
  connectionReuse,
  decideAuthResponse,
  headErrorReason,
  type ResponseHead,
  ResponseHeadParser,
} from "./response.ts";
import { BodyDrain } from "./body_drain.ts";
import { describeSocketError, failedCall } from "./socket_errors.ts";
import { waitUnlessAborted } from "./wait.ts";

export interface AuthHttpClientOptions {
  url: AuthHttpUrl;
  /** auth_http_header lines, appended in order. */
  headers: Array<[string, string]>;
  /** auth_http_timeout in ms. */
  timeoutMs: number;
  /** auth_http_keepalive: max idle pooled connections; 0 = nginx's behaviour. */
  keepalive: number;
  /** auth_http_pass_client_cert. */
  passClientCert: boolean;
  logger?: Logger;
  /** Used for log lines when the request carries no context of its own. */
  logContext?: SessionContext;
  /** Beyond nginx: the backend for an `Auth-Status: OK` without Auth-Server/Auth-Port (`proxy_pass`). */
  defaultBackend?: { host: string; port: number };
  /** Beyond nginx: `upstream` names an `Auth-Server` may give instead of an address (docs/director.md). */
  upstreams?: ReadonlySet<string>;
  /** auth_http_extra_headers: send Client-Port, Server-IP, Server-Port. */
  connectionHeaders?: boolean;
}

/** Where the auth service listens, resolved once. `name` is how nginx names it in logs. */
type Target =
  | { kind: "tcp"; address: string; port: number; name: string }
  | { kind: "unix"; path: string; name: string };

/** One request/response exchange on one connection. */
type Exchange =
  | { type: "decision"; decision: AuthDecision }
  /** A pooled connection died before answering: try once more on a fresh one. */
  | { type: "stale" };

/** Node timers overflow above this many ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function internal(reason: string): AuthResult {
  return { type: "internal", reason };
}

/** No answer at all: another auth_http URL may be tried (multi_url.ts). */
function unreachable(reason: string): AuthResult {
  return { type: "internal", reason, unreachable: true };
}

/** The client left while its login was being decided; nobody reads this answer. */
const CLIENT_GONE: AuthResult = internal("client closed connection while in http auth state");

/**
 * The least delay before a WAIT is asked again. nginx re-queries at once when Auth-Wait is
 * 0 or absent (a hot loop against the auth service); the smallest delay an Auth-Wait can
 * ask for is 1 s, so that is what such a WAIT gets.
 */
const MIN_WAIT_SECONDS = 1;

export class AuthHttpClient implements AuthSource {
  private readonly opts: AuthHttpClientOptions;
  private target: Target | null = null;
  private readonly idle: net.Socket[] = [];
  /** The listeners that watch an idle socket, removed when it is taken for a request. */
  private readonly idleWatchers = new Map<net.Socket, () => void>();
  private closed = false;

  constructor(opts: AuthHttpClientOptions) {
    this.opts = opts;
  }

  /** A client for another URL with the same settings (`auth_http URL1 URL2 ...`). */
  withUrl(url: AuthHttpUrl): AuthHttpClient {
    return new AuthHttpClient({ ...this.opts, url });
  }

  /** Number of idle pooled connections (for tests and metrics). */
  get idleConnections(): number {
    return this.idle.length;
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    let result: AuthResult;
    try {
      result = await this.run(request);
    } catch (err) {
      // Not expected; a bug here must still end in an internal error, not a crash.
      result = internal(`auth http client failed: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (result.type === "internal" && this.opts.logger && !request.signal?.aborted) {
      const suffix = result.reason.endsWith(" while in http auth state") ? "" : " while in http auth state";
      this.opts.logger.error(result.reason + suffix, request.log ?? this.opts.logContext);
    }
    return result;
  }

  /** Drop every idle connection; requests in flight finish and then close theirs. */
  close(): void {
    this.closed = true;
    for (const socket of this.idle.splice(0)) this.discard(socket);
  }

  private async run(request: AuthRequest): Promise<AuthResult> {
    const target = await this.resolveTarget();
    if (typeof target === "string") return unreachable(target);
    const sent = this.opts.passClientCert || !request.tls?.certPem
      ? request
      : { ...request, tls: { ...request.tls, certPem: undefined } };
    const text = buildAuthRequest(this.opts.url, sent, this.opts.headers, this.opts.keepalive > 0 ? "1.1" : "1.0", {
      connectionHeaders: this.opts.connectionHeaders,
    });
    const context = {
      protocol: request.protocol,
      method: request.credentials.method,
      peer: target.name,
      defaultBackend: this.opts.defaultBackend,
      upstreams: this.opts.upstreams,
    };

    for (;;) {
      if (request.signal?.aborted) return CLIENT_GONE;
      const decision = await this.query(target, text, (head) => decideAuthResponse(head, context), request.signal);
      if (decision.type === "wait") {
        // Each WAIT answer earns exactly one new query (nginx would loop forever on a zero wait).
        if (!(await waitUnlessAborted(Math.max(decision.seconds, MIN_WAIT_SECONDS) * 1000, request.signal))) return CLIENT_GONE;
        continue;
      }
      if (decision.type === "resolve") return await this.resolveBackend(decision, target.name);
      return decision;
    }
  }

  /** The auth service address: resolved lazily, once; only the first address is used. */
  private async resolveTarget(): Promise<Target | string> {
    if (this.target) return this.target;
    const url = this.opts.url;
    if (url.kind === "unix") {
      this.target = { kind: "unix", path: url.path, name: `unix:${url.path}` };
      return this.target;
    }
    const host = url.host.startsWith("[") && url.host.endsWith("]") ? url.host.slice(1, -1) : url.host;
    let address = host;
    if (net.isIP(host) === 0) {
      try {
        address = (await dns.promises.lookup(host)).address;
      } catch {
        return `host not found in auth_http "${url.url}"`;
      }
    }
    const name = net.isIPv6(address) ? `[${address}]:${url.port}` : `${address}:${url.port}`;
    this.target ??= { kind: "tcp", address, port: url.port, name };
    return this.target;
  }

  /** Beyond nginx: Auth-Server may be a host name; its first address is used. */
  private async resolveBackend(
    decision: Extract<AuthDecision, { type: "resolve" }>,
    peer: string,
  ): Promise<AuthResult> {
    let address: string;
    try {
      address = (await dns.promises.lookup(decision.host)).address;
    } catch {
      return internal(`auth http server ${peer} sent invalid server address:"${decision.host}" (host not found)`);
    }
    const result: AuthResult = { type: "ok", server: address, port: decision.port };
    if (decision.user !== undefined) result.user = decision.user;
    if (decision.pass !== undefined) result.pass = decision.pass;
    if (decision.proxySmtpAuth !== undefined) result.proxySmtpAuth = decision.proxySmtpAuth;
    if (decision.sslUpstream !== undefined) result.sslUpstream = decision.sslUpstream;
    return result;
  }

  /**
   * One query: on a pooled connection when there is one (retried once on a
   * fresh connection if it turns out dead), else on a new connection. The
   * deadline is armed once, at the start, and covers connect, send and the
   * complete response headers.
   */
  private async query(
    target: Target,
    text: Wire<"http">,
    decide: (head: ResponseHead) => AuthDecision,
    signal?: AbortSignal,
  ): Promise<AuthDecision> {
    const deadline = Date.now() + this.opts.timeoutMs;
    const pooled = this.takeIdle();
    if (pooled) {
      const outcome = await this.exchange(pooled, true, target, text, deadline, decide, signal);
      if (outcome.type === "decision") return outcome.decision;
      if (signal?.aborted) return CLIENT_GONE;
    }
    const outcome = await this.exchange(this.connect(target), false, target, text, deadline, decide, signal);
    // A fresh connection is never "stale"; the type says otherwise only for pooled ones.
    return outcome.type === "decision" ? outcome.decision : unreachable(`auth http server ${target.name} prematurely closed connection`);
  }

  private connect(target: Target): net.Socket {
    const socket = target.kind === "unix"
      ? net.connect({ path: target.path })
      : net.connect({ host: target.address, port: target.port });
    // Errors are read through the exchange's listener; this one only guarantees
    // that a late error on a socket nobody watches can never crash the process.
    socket.on("error", () => {});
    return socket;
  }

  private exchange(
    socket: net.Socket,
    reused: boolean,
    target: Target,
    text: Wire<"http">,
    deadline: number,
    decide: (head: ResponseHead) => AuthDecision,
    signal?: AbortSignal,
  ): Promise<Exchange> {
    // The client left: its request is not started, or abandoned with its connection.
    if (signal?.aborted) return Promise.resolve({ type: "decision", decision: CLIENT_GONE });
    return new Promise<Exchange>((resolve) => {
      const parser = new ResponseHeadParser();
      let connected = reused;
      let answered = false;
      let settled = false;

      const finish = (outcome: Exchange, keepSocket = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.off("connect", onConnect);
        socket.off("data", onData);
        socket.off("error", onError);
        socket.off("close", onClose);
        signal?.removeEventListener("abort", onAbort);
        if (!keepSocket) this.discard(socket);
        resolve(outcome);
      };
      const onAbort = () => finish({ type: "decision", decision: CLIENT_GONE });
      const fail = (reason: string) => finish({ type: "decision", decision: internal(reason) });
      const down = (reason: string) => finish({ type: "decision", decision: unreachable(reason) });

      const onConnect = () => {
        connected = true;
      };
      const onData = (chunk: Buffer) => {
        answered = true;
        let step;
        try {
          step = parser.feed(chunk.toString("latin1"));
        } catch (err) {
          fail(`auth http server ${target.name} sent invalid response (${String(err)})`);
          return;
        }
        if (step.type === "more") return;
        if (step.type === "error") {
          fail(headErrorReason(step.error, target.name));
          return;
        }
        const decision = decide(step.head);
        const reusable = this.opts.keepalive > 0 && !this.closed;
        finish({ type: "decision", decision }, reusable);
        if (reusable) this.afterHeaders(socket, step.head, step.rest);
      };
      const onError = (err: unknown) => {
        if (reused && !answered) return finish({ type: "stale" });
        const call = failedCall(err, connected);
        const where = call === "connect()" && target.kind === "unix" ? `connect() to ${target.name}` : call;
        down(`${where} failed ${describeSocketError(err)} while in http auth state`);
      };
      const onClose = () => {
        if (reused && !answered) return finish({ type: "stale" });
        down(`auth http server ${target.name} prematurely closed connection`);
      };

      const timer = setTimeout(
        () => down(`auth http server ${target.name} timed out`),
        Math.min(Math.max(deadline - Date.now(), 0), MAX_TIMER_MS),
      );
      socket.on("connect", onConnect);
      socket.on("data", onData);
      socket.on("error", onError);
      socket.on("close", onClose);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (reused) socket.ref();
      try {
        socket.write(Buffer.from(text, "latin1"));
      } catch (err) {
        onError(err);
      }
    });
  }

  /**
   * Pooling only: skip the body, then keep the connection if the server
   * allows it and the body's end is known; otherwise close it.
   */
  private afterHeaders(socket: net.Socket, head: ResponseHead, rest: string): void {
    const reuse = connectionReuse(head);
    if (!reuse.keepAlive || reuse.framing.kind === "unknown") return this.discard(socket);
    const drain = new BodyDrain(reuse.framing);
    const state = rest.length > 0 ? drain.feed(rest) : drain.current;
    if (state === "done") return this.park(socket);
    if (state === "unusable") return this.discard(socket);

    const stop = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("close", onEnd);
      socket.off("end", onEnd);
      socket.off("error", onEnd);
    };
    const onData = (chunk: Buffer) => {
      const next = drain.feed(chunk.toString("latin1"));
      if (next === "more") return;
      stop();
      if (next === "done") this.park(socket);
      else this.discard(socket);
    };
    const onEnd = () => {
      stop();
      this.discard(socket);
    };
    // Draining is housekeeping: it must not keep the process alive.
    const timer = setTimeout(onEnd, Math.min(this.opts.timeoutMs, MAX_TIMER_MS));
    timer.unref();
    socket.unref();
    socket.on("data", onData);
    socket.on("close", onEnd);
    socket.on("end", onEnd);
    socket.on("error", onEnd);
  }

  /** Keep an idle connection for the next request, if there is room. */
  private park(socket: net.Socket): void {
    if (this.closed || socket.destroyed || this.idle.length >= this.opts.keepalive) return this.discard(socket);
    // An idle connection must neither keep the process alive nor linger once the server drops it.
    socket.unref();
    const drop = () => {
      unwatch();
      const i = this.idle.indexOf(socket);
      if (i >= 0) this.idle.splice(i, 1);
      this.discard(socket);
    };
    const unwatch = () => {
      socket.off("data", drop);
      socket.off("end", drop);
      socket.off("close", drop);
      socket.off("error", drop);
      this.idleWatchers.delete(socket);
    };
    // Bytes from an idle server are an answer to nothing: the connection is out of step.
    socket.on("data", drop);
    socket.on("end", drop);
    socket.on("close", drop);
    socket.on("error", drop);
    this.idleWatchers.set(socket, unwatch);
    this.idle.push(socket);
  }

  /** The most recently used idle connection, no longer watched as idle. */
  private takeIdle(): net.Socket | null {
    while (this.idle.length > 0) {
      const socket = this.idle.pop()!;
      this.idleWatchers.get(socket)?.();
      if (!socket.destroyed) return socket;
    }
    return null;
  }

  private discard(socket: net.Socket): void {
    this.idleWatchers.get(socket)?.();
    socket.destroy();
  }
}
