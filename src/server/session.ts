/**
 * The I/O shell of one client connection: it opens the connection (PROXY header,
 * implicit TLS, limit_conn, the SMTP resolver), then carries out what the session
 * core (session_core.ts) decides and tells it what happened. No protocol decision
 * is taken here.
 */
import type { NetSocket } from "../net/socket.ts";
import type { Credentials } from "../protocols/types.ts";
import type { AuthRequest, AuthResult, ClientTlsInfo, ProxyProtocolInfo } from "../auth/types.ts";
import type { SessionDeps } from "./session_deps.ts";
import { createPreauth, protocolLines } from "../protocols/factory.ts";
import { hostPort } from "../upstream/backend.ts";
import { unmapped } from "../wire/proxy_header.ts";
import { receiveProxyHeader } from "./proxy_protocol_in.ts";
import { relay, type RelayEnd, type RelayHandle } from "../relay/relay.ts";
import { printable, type SessionContext } from "../log/logger.ts";
import { RUNTIME } from "../runtime.ts";
import { type BackendTarget, SessionCore, type SessionIo, type SessionTimer } from "./session_core.ts";
import { ClientLink } from "./client_link.ts";
import { backendStep, type BackendStepResult } from "./backend_step.ts";
import { ClientLeft } from "../auth/client_left.ts";

export type { ServerDeps, SessionDeps } from "./session_deps.ts";

let nextConnectionId = 1;

export class Session extends ClientLink implements SessionIo {
  readonly id = nextConnectionId++;
  readonly ctx: SessionContext;
  private readonly core: SessionCore;
  /** Aborted when the client goes, ending the auth request and its WAIT loop. */
  private clientLeft?: ClientLeft;
  private authRequest?: AuthRequest;
  private backend?: NetSocket;
  private tlsInfo?: ClientTlsInfo;
  /** The ALPN id the client's handshake settled on. */
  private alpn?: string;
  private clientHost = "[UNAVAILABLE]";
  private relayHandle?: RelayHandle;
  private readonly started = Date.now();
  private clientIp: string;
  private clientPort?: number;
  /** The proxy's end of the client connection, read once: a PROXY-header wrapper stream has none. */
  private readonly localAddr?: string;
  private readonly localPort?: number;
  private proxyInfo?: ProxyProtocolInfo;
  /** limit_conn: gives this connection's place back. */
  private releaseConnection?: () => void;

  /**
   * `onClosed`: called once when the session is over (a callback, not a promise: a
   * pending promise per session is memory for its whole life).
   */
  constructor(
    socket: NetSocket,
    private deps: SessionDeps,
    private readonly onClosed: (session: Session) => void = () => {},
  ) {
    super(socket);
    const remote = socket.remoteAddress;
    this.clientIp = remote ? unmapped(remote) : "unix:";
    this.clientPort = socket.remotePort;
    this.localAddr = socket.localAddress;
    this.localPort = socket.localPort;
    const local = this.localAddr ? hostPort(unmapped(this.localAddr), this.localPort ?? 0) : deps.listen.address;
    this.ctx = { conn: this.id, client: this.clientIp, server: local };
    this.core = new SessionCore(this, protocolLines(deps.server.protocol), deps.server, this.ctx);
  }

  /** Open the connection and greet; never throws. */
  async start(): Promise<void> {
    // A line built only when it is written (the usual error_log level drops it).
    if (this.logs("info")) this.log("info", `client connected to ${this.ctx.server}`);
    try {
      if (this.deps.listen.proxy_protocol && !(await this.readProxyHeader())) return;
      if (this.deps.listen.ssl && !(await this.handshake(true))) return;
      // SNI may have picked another server of this address during the handshake.
      const server = this.deps.server;
      this.core.admitted(createPreauth(server, this.deps.listen.ssl), server);
      if (!this.admitConnection()) return;
      if (this.deps.resolveClientHost) this.clientHost = await this.deps.resolveClientHost(this.clientIp);
      this.socket.resume();
      this.core.greet();
    } catch (err) {
      this.log("error", `session failed: ${(err as Error).message}`);
      this.core.abort();
    }
  }

  /**
   * PROXY header from a balancer (protocols.md §1.2): consumed before TLS and the
   * greeting; a trusted peer's header replaces the client address and port.
   */
  private async readProxyHeader(): Promise<boolean> {
    const raw = this.socket;
    const got = await receiveProxyHeader(raw, this.deps.server.timeout);
    if (got.type !== "ok") {
      if (got.type === "broken") this.log("error", `broken header: "${printable(got.data)}"`);
      if (got.type === "timeout") this.log("info", "client timed out (110: Connection timed out) while reading PROXY protocol header");
      this.core.closedEarly(got.type === "broken" ? "broken-header" : got.type === "timeout" ? "timeout" : "client-closed");
      return false;
    }
    if (got.info) {
      this.proxyInfo = got.info;
      if (this.deps.trustedPeers?.trusts(this.clientIp)) {
        this.clientIp = unmapped(got.info.addr);
        this.clientPort = got.info.port;
        this.ctx.client = this.clientIp;
      }
    }
    if (got.rest.length === 0) return true;
    if (this.deps.listen.ssl && !raw.tlsAfterUnshift) {
      // The ClientHello came with the header: the TLS layer must see those bytes first.
      this.log("error", `PROXY protocol header and TLS data in one packet are not supported on ${RUNTIME}`);
      this.core.closedEarly("client-closed");
      return false;
    }
    raw.unshift(got.rest);
    return true;
  }

  /** Graceful shutdown: say goodbye before authentication, let relays run (the caller bounds the wait). */
  shutdown(): void {
    this.core.shutdown();
  }

  /**
   * An operator moved the user elsewhere (status_listen `/users/LOGIN/move`): a relayed
   * session gets the protocol's goodbye and ends; one still logging in just ends.
   */
  kick(): void {
    if (this.relayHandle) this.relayHandle.kick(Buffer.from(protocolLines(this.deps.server.protocol).shutdown, "latin1"));
    else this.abort();
  }

  /** Fast stop. */
  abort(): void {
    this.relayHandle?.abort();
    this.core.abort();
  }

  /** Called by the relay once both sockets are closed. */
  relayEnded(end: RelayEnd): void {
    if (this.logs("info")) {
      const { up, down } = this.relayHandle!;
      const seconds = ((Date.now() - this.started) / 1000).toFixed(3);
      this.log("info", `proxied session done (${end}), bytes from client: ${up}, to client: ${down}, duration: ${seconds}s`);
    }
    this.core.relayEnded(end);
  }

  // ---- the actions (SessionIo) beyond bytes and timers ----
  askAuth(credentials: Credentials, attempt: number): void {
    const { server } = this.deps;
    // Assigned field by field: spreads of conditional objects cost a copy each, every login.
    const request: AuthRequest = {
      protocol: server.protocol,
      credentials,
      attempt,
      clientIp: this.clientIp,
      signal: this.clientLeft ??= new ClientLeft(),
    };
    if (server.protocol === "smtp") request.clientHost = this.clientHost;
    if (this.clientPort !== undefined) request.clientPort = this.clientPort;
    if (this.localAddr) {
      request.serverAddr = unmapped(this.localAddr);
      request.serverPort = this.localPort;
    }
    if (this.proxyInfo) request.proxyProtocol = this.proxyInfo;
    if (this.tlsInfo) request.tls = this.tlsInfo;
    this.authRequest = request;
    const asked = Date.now();
    this.deps.auth.authenticate(request).then((result: AuthResult) => {
      this.deps.observer?.auth((Date.now() - asked) / 1000, result.type === "ok" ? "ok" : result.type === "error" ? "failed" : "tempfail");
      // The client went meanwhile: the answer only counts for the access log.
      if (this.socket.closed) this.core.abort();
      this.core.authResult(result);
    }).catch((err) => this.failed(err));
  }

  connectBackend(target: BackendTarget): void {
    const connecting = Date.now();
    const client = {
      clientAddr: this.clientIp,
      clientPort: this.clientPort,
      localAddr: this.localAddr,
      localPort: this.localPort,
      clientHost: this.clientHost,
      tls: this.tlsInfo,
      alpn: this.alpn,
    };
    backendStep(this.deps.server, target, client).then((outcome: BackendStepResult) => {
      this.deps.observer?.backendLogin((Date.now() - connecting) / 1000, outcome.type !== "fail", this.ctx, outcome.type === "fail" && outcome.refused);
      // The client went meanwhile: the core only logs a failure.
      if (this.socket.closed) this.core.abort();
      if (outcome.type === "ok") this.backend = outcome.socket;
      this.core.backendResult(outcome);
      // Not handed to the relay: the backend connection goes too.
      this.backend?.destroy();
      this.backend = undefined;
    }).catch((err) => this.failed(err));
  }

  backendRefused(): void {
    if (this.authRequest) void this.deps.auth.backendRefused?.(this.authRequest);
  }

  upgradeTls(): void {
    this.handshake(false).then((ok) => ok && this.core.tlsStarted()).catch((err) => this.failed(err));
  }

  startRelay(pendingUp: string): void {
    // The dialogue is over: its auth request would only hold memory (and the password).
    this.authRequest = undefined;
    this.clientLeft = undefined;
    const backend = this.backend!;
    this.backend = undefined;
    this.relayHandle = relay(this.socket, backend, this.deps.server.proxy_timeout, pendingUp, this);
  }

  ended(): void {
    this.clientLeft?.abort();
    this.releaseConnection?.();
    this.onClosed(this);
    // last: the bookkeeping above must happen even if the access log or metrics fail
    this.deps.observer?.finished({
      start: this.started,
      durationMs: Date.now() - this.started,
      client: this.clientIp,
      server: this.ctx.server,
      protocol: this.deps.server.protocol,
      login: this.ctx.login,
      upstream: this.ctx.upstream,
      bytesUp: this.relayHandle?.up ?? 0,
      bytesDown: this.relayHandle?.down ?? 0,
      tls: this.tlsInfo?.protocol,
      result: this.core.result,
    });
  }

  /** Whether a line of `level` would be written anywhere. */
  private logs(level: "info" | "warn" | "error"): boolean {
    return this.deps.logger.enabled(level);
  }

  log(level: "info" | "warn" | "error", message: string): void {
    this.deps.logger[level](message, this.ctx);
  }

  /** An unexpected failure ends this session only. */
  private failed(err: unknown): void {
    this.relayHandle?.abort();
    this.core.failed((err as Error).message, !this.socket.closed);
  }

  /** Hand the socket to the TLS upgrader; false (and closed) when the handshake or certificate check fails. */
  private async handshake(implicit: boolean): Promise<boolean> {
    const upgrader = this.deps.tls;
    if (!upgrader) {
      this.log("error", "TLS requested but the server has no TLS context");
      this.core.abort();
      return false;
    }
    const upgraded = await upgrader.upgrade(this.socket);
    this.deps.observer?.tlsHandshake(!("error" in upgraded));
    // A failed upgrade destroyed the socket without telling us: the core ends the session.
    if ("error" in upgraded) {
      this.core.tlsFailed(upgraded.error);
      return false;
    }
    this.tlsInfo = upgraded.info;
    this.alpn = upgraded.alpn;
    // Implicit TLS: the server the SNI name picked serves the whole session. After
    // STARTTLS the server chosen at accept keeps its protocol state; SNI chose the certificate.
    if (upgraded.server && implicit) {
      const picked = this.deps.forServer?.(upgraded.server);
      if (picked) this.deps = { ...this.deps, ...picked };
    }
    if (upgraded.certLine) {
      this.core.tlsCertRefused(upgraded.certLine);
      return false;
    }
    if (!implicit) this.socket.resume();
    return true;
  }

  /** limit_conn: the client IP's place, or the core refuses the connection. */
  private admitConnection(): boolean {
    const limit = this.deps.server.limit_conn;
    if (!limit || !this.deps.connections) return true;
    this.releaseConnection = this.deps.connections.acquire(this.clientIp, limit.per_ip) ?? undefined;
    if (this.releaseConnection) return true;
    this.core.tooManyConnections(limit.per_ip);
    return false;
  }

  // ---- events of the client connection (ClientLink) ----
  clientBytes(bytes: string): void {
    this.core.clientBytes(bytes);
  }
  drained(): void {
    this.core.drained();
  }
  clientError(err: Error): void {
    this.log("info", `client connection error: ${err.message}`);
  }
  clientClosed(): void {
    this.core.clientClosed();
  }
  timerFired(timer: SessionTimer): void {
    this.core.timerFired(timer);
  }
}
