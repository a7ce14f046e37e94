/**
 * One client connection from accept to close: greeting, the protocol's pre-auth
 * machine, the auth source, the backend login and the relay. This is the only
 * place where protocol decisions meet sockets; the decisions themselves live in
 * the state machines.
 */
import type net from "node:net";
import type { EffectiveServer, ListenSpec } from "../config/model.ts";
import type { Action, Credentials, LoginContext, PreauthMachine } from "../protocols/types.ts";
import type { AuthRequest, AuthSource, ClientTlsInfo, ProxyProtocolInfo, UpstreamTlsMode } from "../auth/types.ts";
import { createBackendLogin, createPreauth, protocolLines } from "../protocols/factory.ts";
import { hostPort, loginToBackend } from "../upstream/backend.ts";
import { upstreamTlsMode, upstreamTlsSetup, type UpstreamTlsSetup } from "../upstream/tls_out.ts";
import { createBackendStarttls } from "../protocols/backend_starttls.ts";
import { yieldOf } from "../protocols/mechanisms.ts";
import { proxyHeaderV1, proxyHeaderV2, unmapped } from "../wire/proxy_header.ts";
import { receiveProxyHeader, withHead } from "./proxy_protocol_in.ts";
import type { TrustedPeers } from "./realip.ts";
import type { SessionObserver } from "../metrics/session_observer.ts";
import type { ConnectionCounter } from "../auth/limits.ts";
import { relay, type RelayEnd, type RelayHandle } from "../relay/relay.ts";
import { type Logger, printable, type SessionContext } from "../log/logger.ts";
import { noDelay } from "../socket_runtime.ts";
import { waitUnlessAborted } from "../auth/wait.ts";

export interface SessionDeps {
  server: EffectiveServer;
  listen: ListenSpec;
  auth: AuthSource;
  logger: Logger;
  /** Upgrades the socket for STARTTLS / implicit TLS; absent when the server has no TLS. */
  tls?: TlsUpgrader;
  /** Resolves the SMTP client host name (Client-Host, XCLIENT NAME). */
  resolveClientHost?: (ip: string) => Promise<string>;
  /** `set_real_ip_from` of the server: peers allowed to set the client address with a PROXY header. */
  trustedPeers?: TrustedPeers;
  /** Metrics and the access log. */
  observer?: SessionObserver;
  /** limit_conn: open connections per client IP of this instance. */
  connections?: ConnectionCounter;
  /** Servers sharing the address (SNI): the deps of the server the handshake picked. */
  forServer?: (server: EffectiveServer) => ServerDeps | undefined;
}

export interface TlsUpgrader {
  /**
   * Wrap `socket` as a TLS server socket; resolves with the secure socket and its facts,
   * or the reason of the failure. `server`: the server the SNI name picked, when it is
   * not the one the connection was accepted for.
   */
  upgrade(socket: net.Socket): Promise<
    { socket: net.Socket; info: ClientTlsInfo; certLine?: "error" | "required"; server?: EffectiveServer } | { error: string }
  >;
}

/** What a session takes from the server it serves; swapped when SNI picks another server. */
export type ServerDeps = Pick<SessionDeps, "server" | "logger" | "auth" | "resolveClientHost" | "trustedPeers">;

type Phase = "greeting" | "preauth" | "auth" | "tls" | "login" | "relay" | "closing" | "closed";

let nextConnectionId = 1;

/** Pipelined commands handled in one turn of the event loop for one client (their replies go out as one write). */
const COMMANDS_PER_TURN = 64;
/** The most pre-auth replies one session may have waiting to be written; over it the session is closed. */
const PREAUTH_QUEUE_LIMIT = 256 * 1024;
/** The most a client may send behind its login while the auth service decides. */
const AUTH_HOLD_LIMIT = 64 * 1024;

export class Session {
  readonly id = nextConnectionId++;
  readonly ctx: SessionContext;
  private phase: Phase = "greeting";
  private socket: net.Socket;
  private machine!: PreauthMachine;
  private preauthTimer?: ReturnType<typeof setTimeout>;
  private writeTimer?: ReturnType<typeof setTimeout>;
  /** Bounds the flush after a closing reply; cleared when the session ends so it does not pin the session. */
  private flushTimer?: ReturnType<typeof setTimeout>;
  /** Aborted when the client goes, ending the auth request, its WAIT loop and any Auth-Wait delay. */
  private clientLeft?: AbortController;
  /** Bytes the client sent since the auth service was asked. */
  private heldDuringAuth = 0;
  /** The next batch of pipelined commands, due in the next turn of the event loop. */
  private nextBatch?: ReturnType<typeof setImmediate>;
  private attempt = 0;
  private tlsInfo?: ClientTlsInfo;
  private clientHost = "[UNAVAILABLE]";
  private relayHandle?: RelayHandle;
  private readonly started = Date.now();
  private clientIp: string;
  private clientPort?: number;
  /** The proxy's end of the client connection, read once: a PROXY-header wrapper stream has none. */
  private readonly localAddr?: string;
  private readonly localPort?: number;
  private proxyInfo?: ProxyProtocolInfo;
  /** How the session ended, for the access log and metrics. */
  private result = "client-closed";
  /** An OAuth failure reply waits for the client's dummy response; close after it. */
  private closeAfterFailureAck = false;
  /** limit_conn: gives this connection's place back. */
  private releaseConnection?: () => void;
  /** The last auth request, for limit_login when a passthrough backend refuses it. */
  private authRequest?: AuthRequest;
  /** `Auth-SMTP-Auth` of the successful auth answer. */
  private smtpAuthSwitch?: boolean;
  /**
   * `onClosed`: called once when the session is over (a callback, not a promise: a
   * pending promise per session is memory for its whole life).
   */
  constructor(
    socket: net.Socket,
    private deps: SessionDeps,
    private readonly onClosed: (session: Session) => void = () => {},
  ) {
    this.socket = socket;
    const remote = socket.remoteAddress;
    this.clientIp = remote ? unmapped(remote) : "unix:";
    this.clientPort = socket.remotePort;
    this.localAddr = socket.localAddress;
    this.localPort = socket.localPort;
    const local = this.localAddr ? hostPort(unmapped(this.localAddr), this.localPort ?? 0) : deps.listen.address;
    this.ctx = { conn: this.id, client: this.clientIp, server: local };
  }

  private get log(): Logger {
    return this.deps.logger;
  }

  /** Drive the session; never throws. */
  async start(): Promise<void> {
    const socket = this.socket;
    noDelay(socket);
    this.listenToClient(socket);
    this.log.info(`client connected to ${this.ctx.server}`, this.ctx);

    try {
      if (this.deps.listen.proxy_protocol) {
        if (!(await this.readProxyHeader())) return;
      }
      if (this.deps.listen.ssl) {
        if (!(await this.upgradeTls())) return;
      }
      // SNI may have picked another server of this address during the handshake.
      const server = this.deps.server;
      this.machine = createPreauth(server, this.deps.listen.ssl);
      if (!this.admitConnection()) return;
      if (this.deps.resolveClientHost) {
        this.socket.pause();
        this.clientHost = await this.deps.resolveClientHost(this.clientIp);
      }
      let greeting = this.machine.greeting();
      if (greeting[0]?.type === "delay-greeting") {
        if (!(await this.greetingDelay(greeting[0].ms))) return;
        greeting = this.machine.greeting();
      }
      this.armPreauthTimer();
      this.phase = "preauth";
      if (!this.apply(greeting)) return;
      // after implicit TLS (or a PROXY header) the session reads from a different socket object
      this.socket.on("data", (chunk: Buffer) => this.onClientData(chunk));
      this.socket.resume();
    } catch (err) {
      this.log.error(`session failed: ${(err as Error).message}`, this.ctx);
      this.close();
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
      this.result = got.type === "broken" ? "broken-header" : got.type === "timeout" ? "timeout" : "client-closed";
      if (got.type === "broken") this.log.error(`broken header: "${printable(got.data)}"`, this.ctx);
      if (got.type === "timeout") this.log.info("client timed out (110: Connection timed out) while reading PROXY protocol header", this.ctx);
      this.close();
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
    if (got.rest.length > 0) {
      if (this.deps.listen.ssl) {
        // The ClientHello came with the header: the TLS layer must see those bytes first.
        // Deno's TLSSocket cannot wrap a plain stream (it needs a socket handle).
        if ("Deno" in globalThis) {
          this.log.error("PROXY protocol header and TLS data in one packet are not supported on Deno", this.ctx);
          this.close();
          return false;
        }
        this.socket = withHead(raw, got.rest) as unknown as net.Socket;
      } else raw.unshift(got.rest);
    }
    return true;
  }

  /** Graceful shutdown: say goodbye before authentication, let relays run (the caller bounds the wait). */
  shutdown(): void {
    if (this.phase === "preauth" || this.phase === "greeting") {
      this.write(this.machine?.lines.shutdown ?? "");
      this.closeAfterWrite();
    }
  }

  /** Fast stop. */
  abort(): void {
    this.relayHandle?.abort();
    this.close();
  }

  private onClientData(chunk: Buffer): void {
    if (this.phase === "preauth") this.readCommands(chunk.toString("latin1"));
    else if (this.phase === "auth") this.holdDuringAuth(chunk);
  }

  /**
   * While the auth service decides, the client is still read so that its leaving
   * ends the login (and a WAIT loop) at once. What it sends waits in the machine for
   * after the login; more than AUTH_HOLD_LIMIT of it ends the session.
   */
  private holdDuringAuth(chunk: Buffer): void {
    this.heldDuringAuth += chunk.length;
    if (this.heldDuringAuth > AUTH_HOLD_LIMIT) {
      this.result = "too-long";
      this.log.info("client sent too much data while in http auth state", this.ctx);
      this.close();
      return;
    }
    this.machine.feed(chunk.toString("latin1"), 0);
  }

  /**
   * Carry out the client's pipelined commands a batch at a time (protocols.md §1.4).
   * The client is not read while a batch waits for its turn or its replies wait to
   * be written: a client that pipelines and never reads holds one batch of replies
   * and one chunk of input, not memory without bound, and cannot hold the event
   * loop from other clients. `drained()` and the next turn go on.
   */
  private readCommands(bytes: string): void {
    const busy = this.replyPending || this.nextBatch !== undefined;
    const actions = this.machine.feed(bytes, busy ? 0 : COMMANDS_PER_TURN);
    if (actions.length === 0) {
      if (!busy) this.socket.resume();
      return;
    }
    this.socket.pause();
    if (!this.apply(actions)) return;
    this.closeIfFailureAcked();
    if (this.phase !== "preauth" || this.replyPending) return;
    this.nextBatch = setImmediate(() => {
      this.nextBatch = undefined;
      if (this.phase === "preauth") this.readCommands("");
    });
  }

  /** The client read what was waiting: go on with its commands. */
  private drained(): void {
    clearTimeout(this.writeTimer);
    this.writeTimer = undefined;
    if (this.phase === "preauth") this.readCommands("");
  }

  /** Replies wait for the client to read them (the write timer runs meanwhile). */
  private get replyPending(): boolean {
    return this.writeTimer !== undefined;
  }

  /** RFC 7628: a failed OAuth login without Auth-Wait closes once the client answered the error challenge. */
  private closeIfFailureAcked(): void {
    if (this.closeAfterFailureAck && !this.machine.awaitingFailureAck) this.closeAfterWrite();
  }

  /** Carry out the machine's actions in order, replies in a row as one write; false once the session is closing. */
  private apply(actions: Action[]): boolean {
    let replies = "";
    for (const action of actions) {
      if (action.type === "send") {
        replies += action.data;
        continue;
      }
      this.write(replies);
      replies = "";
      switch (action.type) {
        case "close":
          this.logClose(action.reason);
          this.closeAfterWrite();
          return false;
        case "auth":
          this.guard(this.authenticate(action.credentials, action.context));
          return true;
        case "starttls":
          this.guard(this.startTls());
          return true;
      }
    }
    this.write(replies);
    return true;
  }

  /** An unexpected failure ends this session only, with the protocol's internal error. */
  private guard(step: Promise<void>): void {
    step.catch((err) => {
      this.log.error(`session failed: ${(err as Error).message}`, this.ctx);
      this.relayHandle?.abort();
      if (this.machine && !this.socket.destroyed) this.internalError();
      else this.close();
    });
  }

  private logClose(reason: string): void {
    const messages: Record<string, string> = {
      "too-many-errors": "client sent too many invalid commands",
      "too-long": "client sent too long command",
      "unknown-literal": "client sent invalid literal",
      "pipelining": "client was rejected before greeting",
    };
    this.result = reason;
    const msg = messages[reason];
    if (msg) this.log.info(msg, this.ctx);
  }

  private write(data: string): void {
    if (!data || this.socket.destroyed) return;
    const accepted = this.socket.write(Buffer.from(data, "latin1"));
    if (this.phase === "preauth" && this.socket.writableLength > PREAUTH_QUEUE_LIMIT) {
      this.result = "too-many-replies";
      this.log.info("client sent too many commands without reading the replies", this.ctx);
      this.close();
      return;
    }
    if (!accepted && !this.writeTimer) {
      // A client that does not read our replies gets `timeout` to catch up.
      this.writeTimer = setTimeout(() => {
        this.result = "timeout";
        this.log.info("client timed out (110: Connection timed out) while sending response", this.ctx);
        this.close();
      }, this.deps.server.timeout);
      this.socket.once("drain", () => this.drained());
    }
  }

  /** A cleared timer object kept in the field would still cost memory for the session's life. */
  private clearPreauthTimer(): void {
    clearTimeout(this.preauthTimer);
    this.preauthTimer = undefined;
  }

  private armPreauthTimer(): void {
    this.clearPreauthTimer();
    this.preauthTimer = setTimeout(() => {
      this.result = "timeout";
      this.log.info("client timed out (110: Connection timed out)", this.ctx);
      this.close();
    }, this.deps.server.timeout);
  }

  private async greetingDelay(delay: number): Promise<boolean> {
    const socket = this.socket;
    let early = false;
    const onEarly = () => (early = true);
    if (socket.readableLength > 0) early = true;
    if (delay > 0) {
      socket.on("data", onEarly);
      socket.resume();
      // Like nginx, the first early byte (or a close) ends the wait: the refusal goes out at once.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          socket.removeListener("data", done);
          socket.removeListener("close", done);
          resolve();
        };
        const timer = setTimeout(done, delay);
        if (early) done();
        else {
          socket.on("data", done);
          socket.on("close", done);
        }
      });
      socket.removeListener("data", onEarly);
      socket.pause();
      if (early) {
        this.apply(this.machine.earlyInput!());
        return false;
      }
    }
    return !socket.destroyed;
  }

  private async authenticate(credentials: Credentials, context: LoginContext): Promise<void> {
    this.phase = "auth";
    this.heldDuringAuth = 0;
    // Read on (holdDuringAuth) to notice the client leaving.
    this.socket.resume();
    this.clearPreauthTimer();
    this.attempt++;
    if (credentials.user) this.ctx.login = credentials.user;
    const request: AuthRequest = {
      protocol: this.deps.server.protocol,
      credentials,
      attempt: this.attempt,
      clientIp: this.clientIp,
      ...(this.deps.server.protocol === "smtp" ? { clientHost: this.clientHost } : {}),
      ...this.connectionFacts(),
      ...(this.proxyInfo ? { proxyProtocol: this.proxyInfo } : {}),
      ...(this.tlsInfo ? { tls: this.tlsInfo } : {}),
      signal: (this.clientLeft ??= new AbortController()).signal,
    };
    const asked = Date.now();
    this.authRequest = request;
    const result = await this.deps.auth.authenticate(request);
    this.deps.observer?.auth((Date.now() - asked) / 1000, result.type === "ok" ? "ok" : result.type === "error" ? "failed" : "tempfail");
    if (result.type !== "ok") this.result = result.type === "error" ? "login-failed" : "auth-error";
    if (this.socket.destroyed) return;

    if (result.type === "internal") {
      this.log.error(result.reason, this.ctx);
      this.internalError();
      return;
    }
    if (result.type === "error") {
      this.log.info(`client login failed: "${printable(result.text)}"`, this.ctx);
      if (result.wait > 0) {
        if (!(await waitUnlessAborted(result.wait * 1000, request.signal)) || this.socket.destroyed) return;
        this.apply(this.machine.authFailed(result.text, result.errorCode));
        this.resumePreauth();
      } else {
        this.apply(this.machine.authFailed(result.text, result.errorCode, { closeAfter: true }));
        if (!this.machine.awaitingFailureAck) return this.closeAfterWrite();
        this.closeAfterFailureAck = true;
        this.resumePreauth();
      }
      return;
    }

    const user = result.user ?? credentials.user;
    // After APOP, CRAM-MD5 or EXTERNAL the client's "password" is a digest or nothing, never a backend password.
    const pass = result.pass ?? (yieldOf(credentials.method) === "password" ? credentials.pass : "");
    if (result.user !== undefined) this.ctx.login = result.user;
    // An Auth-Pass from the auth source replaces the client's OAuth payload at the backend.
    const loginCredentials = result.pass !== undefined && credentials.oauth ? { ...credentials, oauth: undefined } : credentials;
    this.smtpAuthSwitch = result.proxySmtpAuth;
    await this.loginUpstream(result.server, result.port, user, pass, loginCredentials, context, result.backendDecides === true, result.sslUpstream);
  }

  /** Passthrough: the backend refused the client's credentials. Its words are the answer; the client may retry. */
  private backendRefused(text: string, errorCode: string | undefined, oauthChallenge?: string): void {
    this.log.info(`client login failed: "${printable(text)}"`, this.ctx);
    if (this.authRequest) void this.deps.auth.backendRefused?.(this.authRequest);
    delete this.ctx.upstream;
    this.apply(this.machine.authFailed(text, errorCode, { oauthChallenge }));
    this.resumePreauth();
  }

  /** Back to the pre-auth dialogue after a failed login: commands the client sent meanwhile come first. */
  private resumePreauth(): void {
    this.phase = "preauth";
    this.armPreauthTimer();
    this.readCommands("");
  }

  private async loginUpstream(
    host: string,
    port: number,
    user: string,
    pass: string,
    credentials: Credentials,
    context: LoginContext,
    backendDecides = false,
    sslUpstream?: UpstreamTlsMode,
  ): Promise<void> {
    const { server } = this.deps;
    this.phase = "login";
    // What the client sends from now on waits in the kernel for the relay.
    this.socket.pause();
    this.ctx.upstream = hostPort(host, port);
    const facts = this.connectionFacts();
    const login = createBackendLogin(server, {
      user,
      pass,
      credentials,
      context,
      clientIp: this.clientIp,
      clientHost: this.clientHost,
      clientPort: this.clientPort,
      localIp: facts.serverAddr,
      localPort: facts.serverPort,
      proxySmtpAuth: this.smtpAuthSwitch,
    });
    const addresses = {
      clientAddr: this.clientIp,
      clientPort: this.clientPort,
      localAddr: this.localAddr,
      localPort: this.localPort,
    };
    const proxyHeader = server.proxy_protocol === "on"
      ? proxyHeaderV1(addresses)
      : server.proxy_protocol === "v2"
      ? proxyHeaderV2(addresses, this.tlsInfo && {
        version: this.tlsInfo.protocol,
        cipher: this.tlsInfo.cipher,
        serverName: this.tlsInfo.serverName,
        alpn: (this.socket as { alpnProtocol?: string | false }).alpnProtocol || undefined,
        clientCert: this.tlsInfo.verify !== undefined && this.tlsInfo.verify !== "NONE",
        verify: this.tlsInfo.verify === undefined || this.tlsInfo.verify === "NONE" ? 1 : this.tlsInfo.verify === "SUCCESS" ? 0 : 1,
        clientCn: this.tlsInfo.commonName,
      })
      : undefined;
    const tlsMode = upstreamTlsMode(server, sslUpstream);
    let upstreamTls: UpstreamTlsSetup | undefined;
    try {
      upstreamTls = tlsMode ? upstreamTlsSetup(server, host, tlsMode) : undefined;
    } catch (err) {
      this.log.error((err as Error).message, this.ctx);
      this.internalError();
      return;
    }
    const connecting = Date.now();
    const outcome = await loginToBackend({
      target: { host, port },
      protocol: server.protocol,
      login,
      replyLimit: server.proxy_buffer,
      deadlineMs: server.timeout,
      proxyHeader,
      ...(upstreamTls ? { tls: upstreamTls, starttls: createBackendStarttls(server.protocol, server.server_name) } : {}),
    });
    this.deps.observer?.backendLogin((Date.now() - connecting) / 1000, outcome.type !== "fail");
    if (outcome.type === "fail") {
      this.result = "backend-error";
      if (backendDecides && login.refusal && !this.socket.destroyed) {
        this.backendRefused(login.refusal.text, login.refusal.errorCode, login.refusal.oauthChallenge);
        return;
      }
      this.log.error(outcome.reason, this.ctx);
      if (server.proxy_pass_error_message && outcome.reply) this.write(outcome.reply);
      else this.write(this.machine.lines.internalError);
      this.closeAfterWrite();
      return;
    }
    if (this.socket.destroyed) {
      outcome.socket.destroy();
      return;
    }
    this.write(outcome.toClient);
    this.phase = "relay";
    this.log.info("client logged in", this.ctx);
    const pendingUp = this.machine.takePending();
    this.releasePreauth();
    // relayEnded is called back rather than awaited: this call's frame (and authenticate()'s,
    // with the credentials) would otherwise live as long as the session
    this.relayHandle = relay(this.socket, outcome.socket, server.proxy_timeout, pendingUp, this);
  }

  /**
   * The dialogue is over: the pre-auth listener, machine and auth request would only
   * hold memory (and the client's password) for the rest of a long session.
   */
  private releasePreauth(): void {
    this.socket.removeAllListeners("data");
    this.machine = undefined as unknown as PreauthMachine;
    this.authRequest = undefined;
    this.clientLeft = undefined;
  }

  /** Called by the relay once both sockets are closed. */
  relayEnded(end: RelayEnd): void {
    const { up, down } = this.relayHandle!.stats;
    this.result = end;
    const seconds = ((Date.now() - this.started) / 1000).toFixed(3);
    this.log.info(`proxied session done (${end}), bytes from client: ${up}, to client: ${down}, duration: ${seconds}s`, this.ctx);
    this.finished();
  }

  private async startTls(): Promise<void> {
    this.phase = "tls";
    this.clearPreauthTimer();
    if (!(await this.upgradeTls())) return;
    this.apply(this.machine.tlsStarted());
    this.phase = "preauth";
    this.armPreauthTimer();
    this.socket.on("data", (chunk: Buffer) => this.onClientData(chunk));
    this.socket.resume();
  }

  /** Hand the socket to the TLS upgrader; false (and closed) when the handshake or certificate check fails. */
  private async upgradeTls(): Promise<boolean> {
    const upgrader = this.deps.tls;
    if (!upgrader) {
      this.log.error("TLS requested but the server has no TLS context", this.ctx);
      this.close();
      return false;
    }
    const raw = this.socket;
    raw.removeAllListeners("data");
    const upgraded = await upgrader.upgrade(raw);
    this.deps.observer?.tlsHandshake(!("error" in upgraded));
    if ("error" in upgraded) {
      this.result = "tls-failed";
      this.log.info(`TLS handshake failed: ${upgraded.error}`, this.ctx);
      this.close();
      // The upgrader took the raw socket's listeners, our "close" one included: end the session here.
      this.finished();
      return false;
    }
    this.socket = upgraded.socket;
    this.tlsInfo = upgraded.info;
    // Implicit TLS: the server the SNI name picked serves the whole session. After
    // STARTTLS the server chosen at accept keeps its protocol state; SNI chose the certificate.
    if (upgraded.server && this.phase === "greeting") {
      const picked = this.deps.forServer?.(upgraded.server);
      if (picked) this.deps = { ...this.deps, ...picked };
    }
    this.listenToClient(this.socket);
    if (upgraded.certLine) {
      const lines = createPreauth(this.deps.server, true).lines;
      this.write(upgraded.certLine === "error" ? lines.certError : lines.certRequired);
      this.closeAfterWrite();
      return false;
    }
    return true;
  }

  private internalError(): void {
    this.write(this.machine.lines.internalError);
    this.closeAfterWrite();
  }

  private closeAfterWrite(): void {
    if (this.phase === "closing" || this.phase === "closed") return;
    this.phase = "closing";
    this.clearPreauthTimer();
    this.socket.end();
    // Read (and ignore) what still comes, so that the client's own close is seen.
    this.socket.resume();
    // Bound the flush by `timeout`, like every other write before the relay.
    this.flushTimer = setTimeout(() => this.close(), this.deps.server.timeout);
    this.flushTimer.unref();
  }

  private close(): void {
    this.clearPreauthTimer();
    clearTimeout(this.writeTimer);
    this.socket.destroy();
  }

  /** The client socket's events reach the session through shared handlers (see onClientError). */
  private listenToClient(socket: net.Socket): void {
    (socket as ClientSocket)[SESSION] = this;
    socket.on("error", onClientError);
    socket.on("close", onClientClose);
  }

  clientError(err: Error): void {
    this.log.info(`client connection error: ${err.message}`, this.ctx);
  }

  onClientClosed(): void {
    // During the relay, the relay reports the end; auth and login steps notice `destroyed` when they resume.
    if (this.phase !== "relay") this.finished();
  }

  private finished(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    this.clearPreauthTimer();
    clearTimeout(this.writeTimer);
    clearTimeout(this.flushTimer);
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
      bytesUp: this.relayHandle?.stats.up ?? 0,
      bytesDown: this.relayHandle?.stats.down ?? 0,
      tls: this.tlsInfo?.protocol,
      result: this.result,
    });
  }

  /** limit_conn: over the client IP's limit, the protocol's refusal line, then close. */
  private admitConnection(): boolean {
    const limit = this.deps.server.limit_conn;
    if (!limit || !this.deps.connections) return true;
    const release = this.deps.connections.acquire(this.clientIp, limit.per_ip);
    if (release) {
      this.releaseConnection = release;
      return true;
    }
    this.result = "too-many-connections";
    this.log.warn(`limit_conn per_ip=${limit.per_ip} reached, connection refused`, this.ctx);
    this.write(protocolLines(this.deps.server.protocol).tooManyConnections);
    this.closeAfterWrite();
    return false;
  }

  /** Client port and the proxy's end of the client connection (Client-Port, Server-IP, Server-Port, ID). */
  private connectionFacts(): { clientPort?: number; serverAddr?: string; serverPort?: number } {
    return {
      ...(this.clientPort !== undefined ? { clientPort: this.clientPort } : {}),
      ...(this.localAddr ? { serverAddr: unmapped(this.localAddr), serverPort: this.localPort } : {}),
    };
  }
}

/**
 * Listeners shared by every session, which they find on the socket (`this` of a
 * listener is the emitting socket): two closures fewer per session for its whole life.
 */
const SESSION = Symbol("session");
type ClientSocket = net.Socket & { [SESSION]?: Session };

function onClientError(this: ClientSocket, err: Error): void {
  this[SESSION]?.clientError(err);
}
function onClientClose(this: ClientSocket): void {
  this[SESSION]?.onClientClosed();
}
