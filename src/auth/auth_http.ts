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
import { lookupFirst } from "../resolve.ts";
import type { AuthHttpUrl } from "../config/model.ts";
import type { Logger, SessionContext } from "../log/logger.ts";
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";
import { buildAuthRequest } from "./request.ts";
import type { Wire } from "../wire/wire.ts";
import type { AuthDecision, DecisionContext } from "./response.ts";
import { defaultSockets } from "../net/choose.ts";
import { AuthConnection, CLIENT_GONE, type ConnectionPool, type ExchangeJob, internal, type Target, unreachable } from "./auth_connection.ts";
import { waitUnlessAborted } from "./wait.ts";
import type { LeaveSignal } from "./client_left.ts";

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

/**
 * The least delay before a WAIT is asked again. nginx re-queries at once when Auth-Wait is
 * 0 or absent (a hot loop against the auth service); the smallest delay an Auth-Wait can
 * ask for is 1 s, so that is what such a WAIT gets.
 */
const MIN_WAIT_SECONDS = 1;

export class AuthHttpClient implements AuthSource, ConnectionPool {
  private readonly opts: AuthHttpClientOptions;
  private target: Target | null = null;
  /** Idle connections, each its socket's owner and watching it (AuthConnection). */
  private readonly idle: AuthConnection[] = [];
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
    for (const connection of this.idle.splice(0)) connection.discard();
  }

  // ---- the pool, for its connections (ConnectionPool) ----
  get reusing(): boolean {
    return this.opts.keepalive > 0 && !this.closed;
  }
  get drainMs(): number {
    return this.opts.timeoutMs;
  }

  /** Keep an idle connection for the next request, if there is room. */
  park(connection: AuthConnection): void {
    if (this.closed || connection.socket.closed || this.idle.length >= this.opts.keepalive) return connection.discard();
    connection.idle();
    this.idle.push(connection);
  }

  dropIdle(connection: AuthConnection): void {
    const i = this.idle.indexOf(connection);
    if (i >= 0) this.idle.splice(i, 1);
    connection.discard();
  }

  private async run(request: AuthRequest): Promise<AuthResult> {
    // Resolved once: later logins skip the await (a promise and a microtask turn each).
    const target = this.target ?? await this.resolveTarget();
    if (typeof target === "string") return unreachable(target);
    const sent = this.opts.passClientCert || !request.tls?.certPem
      ? request
      : { ...request, tls: { ...request.tls, certPem: undefined } };
    const text = buildAuthRequest(this.opts.url, sent, this.opts.headers, this.opts.keepalive > 0 ? "1.1" : "1.0", {
      connectionHeaders: this.opts.connectionHeaders,
    });
    const context: DecisionContext = {
      protocol: request.protocol,
      method: request.credentials.method,
      peer: target.name,
      defaultBackend: this.opts.defaultBackend,
      upstreams: this.opts.upstreams,
    };

    for (;;) {
      if (request.signal?.aborted) return CLIENT_GONE;
      const decision = await this.query(target, text, context, request.signal);
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
        address = (await lookupFirst(host)).address;
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
      address = (await lookupFirst(decision.host)).address;
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
    context: DecisionContext,
    signal?: LeaveSignal,
  ): Promise<AuthDecision> {
    // The client left: its request is not started.
    if (signal?.aborted) return CLIENT_GONE;
    const job: ExchangeJob = { target, text, deadline: Date.now() + this.opts.timeoutMs, context, signal };
    const pooled = this.takeIdle();
    if (pooled) {
      const outcome = await pooled.exchange(job, true);
      if (outcome.type === "decision") return outcome.decision;
      if (signal?.aborted) return CLIENT_GONE;
    }
    const outcome = await this.connect(target).exchange(job, false);
    // A fresh connection is never "stale"; the type says otherwise only for pooled ones.
    return outcome.type === "decision" ? outcome.decision : unreachable(`auth http server ${target.name} prematurely closed connection`);
  }

  private connect(target: Target): AuthConnection {
    const connection = new AuthConnection(this);
    const sockets = defaultSockets();
    connection.socket = target.kind === "unix"
      ? sockets.connectUnix(target.path, connection)
      : sockets.connect(target.address, target.port, connection);
    return connection;
  }

  /** The most recently used idle connection that is still open. */
  private takeIdle(): AuthConnection | null {
    while (this.idle.length > 0) {
      const connection = this.idle.pop()!;
      if (!connection.socket.closed) return connection;
    }
    return null;
  }
}
