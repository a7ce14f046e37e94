/**
 * The decisions of one client session, free of I/O: events in (client bytes, auth
 * result, backend result, timer fired, drained, TLS result, client closed, relay
 * ended, shutdown), actions out through `SessionIo`, which the I/O shell
 * (session.ts) carries out and tests record. The protocol itself is the pre-auth
 * machine's; here is what every protocol shares: the phases, back-pressure,
 * timeouts, the auth round trip and the login's outcome.
 *
 * Actions are calls on a port rather than returned objects: no allocation per
 * action, and a recording port in the tests sees them in order all the same.
 */
import type { Action, Credentials, LoginContext, LoginRefusal, PreauthMachine, ProtocolLines } from "../protocols/types.ts";
import type { AuthResult, UpstreamTlsMode } from "../auth/types.ts";
import type { EffectiveServer } from "../config/model.ts";
import { yieldOf } from "../protocols/mechanisms.ts";
import { firstLineVerdict } from "../protocols/http_guard.ts";
import { printable, type SessionContext } from "../log/logger.ts";
import { hostPort } from "../upstream/backend.ts";

/** The session's timers; the shell keeps one of each. `turn` is the next turn of the event loop. */
export type SessionTimer = "idle" | "write" | "turn" | "greeting" | "auth-wait" | "flush";

/** What the core asks the backend step for once the auth source said where to go. */
export interface BackendTarget {
  host: string;
  port: number;
  user: string;
  pass: string;
  credentials: Credentials;
  context: LoginContext;
  /** `Auth-SMTP-Auth` of the auth answer. */
  proxySmtpAuth?: boolean;
  sslUpstream?: UpstreamTlsMode;
  /** Passthrough: the backend's refusal is the login's answer. */
  backendDecides: boolean;
}

/** The backend step's outcome as the core sees it (the shell keeps the socket). */
type BackendResult =
  | { type: "ok"; toClient: string }
  /** `refusal`: the backend refused the client's credentials and it decides (passthrough). */
  | { type: "fail"; reason: string; reply?: string; refusal?: LoginRefusal };

/** The actions: what the I/O shell carries out. */
export interface SessionIo {
  /** Write to the client; false once the write waits for the client to read (see `awaitDrain`). */
  write(data: string): boolean;
  /** Bytes written and not yet taken by the client. */
  queued(): number;
  /** Call `drained()` once the client read what waits. */
  awaitDrain(): void;
  pause(): void;
  resume(): void;
  armTimer(timer: SessionTimer, ms: number): void;
  clearTimer(timer: SessionTimer): void;
  /** Ask the auth source; answer with `authResult()`. `attempt` counts from 1. */
  askAuth(credentials: Credentials, attempt: number): void;
  /** Log in at the backend; answer with `backendResult()`. */
  connectBackend(target: BackendTarget): void;
  /** Passthrough: tell the auth source (limit_login) that the backend refused the last request. */
  backendRefused(): void;
  /** STARTTLS: upgrade the client connection; answer with `tlsStarted()`, `tlsFailed()` or `tlsCertRefused()`. */
  upgradeTls(): void;
  /** Hand both connections to the relay; `pendingUp`: what the client sent behind its login. */
  startRelay(pendingUp: string): void;
  /** Half-close after what was written, and read on to see the client's own close. */
  closeAfterWrite(): void;
  destroy(): void;
  /** The session is over: give back what it holds, report it. */
  ended(): void;
  log(level: "info" | "warn" | "error", message: string): void;
}

type SessionSettings = Pick<EffectiveServer, "timeout" | "proxy_pass_error_message">;

type Phase = "opening" | "delay" | "preauth" | "auth" | "tls" | "login" | "relay" | "closing" | "closed";

/** Pipelined commands handled in one turn of the event loop for one client (their replies go out as one write). */
const COMMANDS_PER_TURN = 64;
/** The most pre-auth replies one session may have waiting to be written; over it the session is closed. */
const PREAUTH_QUEUE_LIMIT = 256 * 1024;
/** The most a client may send behind its login while the auth service decides. */
const AUTH_HOLD_LIMIT = 64 * 1024;

const CLOSE_MESSAGES: Record<string, string> = {
  "too-many-errors": "client sent too many invalid commands",
  "too-long": "client sent too long command",
  "unknown-literal": "client sent invalid literal",
  "pipelining": "client was rejected before greeting",
};

export class SessionCore {
  /** How the session ended, for the access log and metrics. */
  result = "client-closed";
  private phase: Phase = "opening";
  private machine?: PreauthMachine;
  /** Replies wait for the client to read them (the write timer runs meanwhile). */
  private replyPending = false;
  /** The next batch of pipelined commands is due in the next turn. */
  private turnPending = false;
  /** An OAuth failure reply waits for the client's dummy response; close after it. */
  private closeAfterFailureAck = false;
  /** Bytes the client sent since the auth service was asked. */
  private heldDuringAuth = 0;
  private attempt = 0;
  /** The login under way: what the auth source checked, until the backend step takes it. */
  private login?: { credentials: Credentials; context: LoginContext };
  /** Auth-Wait: the refusal to send once the wait is over. */
  private deferredFailure?: { text: string; errorCode?: string };
  /** The client's first bytes, held until they show whether they are an HTTP request; null once known. */
  private firstBytes: string | null = "";

  constructor(
    private readonly io: SessionIo,
    /** The protocol's own lines, also before there is a machine. */
    private readonly lines: ProtocolLines,
    /** `timeout` (idle pre-auth, unread replies, the flush before close) and proxy_pass_error_message. */
    private server: SessionSettings,
    readonly ctx: SessionContext,
  ) {}

  /**
   * The connection is open (PROXY header and implicit TLS passed): the dialogue may
   * start, and a shutdown says goodbye. `server`: the one SNI picked, when it did.
   */
  admitted(machine: PreauthMachine, server: SessionSettings): void {
    this.machine = machine;
    this.server = server;
  }

  /** Greet (after `admitted`), or first wait as the machine asks; nothing once the session is closing. */
  greet(): void {
    const machine = this.machine;
    if (this.phase !== "opening" || !machine) return;
    const actions = machine.greeting();
    const first = actions[0];
    if (first?.type !== "delay-greeting") return this.greeted(actions);
    // Read during the wait: the first early byte ends it with the protocol's refusal.
    this.phase = "delay";
    this.io.armTimer("greeting", first.ms);
    this.io.resume();
  }

  /** Client bytes (latin1: one char per byte). */
  clientBytes(bytes: string): void {
    if (this.phase === "preauth") {
      const commands = this.firstBytes === null ? bytes : this.pastHttpGuard(bytes);
      if (this.phase === "preauth") this.readCommands(commands);
    }
    else if (this.phase === "auth") this.holdDuringAuth(bytes);
    else if (this.phase === "delay") {
      this.io.clearTimer("greeting");
      this.io.pause();
      this.apply(this.machine!.earlyInput!());
    }
  }

  /** The client read what was waiting: go on with its commands. */
  drained(): void {
    this.replyPending = false;
    this.io.clearTimer("write");
    if (this.phase === "preauth") this.readCommands("");
  }

  timerFired(timer: SessionTimer): void {
    switch (timer) {
      case "turn":
        this.turnPending = false;
        if (this.phase === "preauth") this.readCommands("");
        return;
      case "greeting":
        if (this.phase !== "delay") return;
        this.io.pause();
        return this.greeted(this.machine!.greeting());
      case "auth-wait": {
        const failure = this.deferredFailure;
        this.deferredFailure = undefined;
        if (failure && this.phase === "auth") this.loginFailed(failure.text, failure.errorCode);
        return;
      }
      case "idle":
        return this.timedOut("client timed out (110: Connection timed out)");
      case "write":
        return this.timedOut("client timed out (110: Connection timed out) while sending response");
      case "flush":
        return this.close();
    }
  }

  /** The auth source answered the `askAuth` action. */
  authResult(result: AuthResult): void {
    if (result.type !== "ok") this.result = result.type === "error" ? "login-failed" : "auth-error";
    if (this.phase !== "auth") return;
    if (result.type === "internal") {
      this.io.log("error", result.reason);
      return this.internalError();
    }
    if (result.type === "error") {
      this.io.log("info", `client login failed: "${printable(result.text)}"`);
      if (result.wait > 0) {
        this.deferredFailure = { text: result.text, errorCode: result.errorCode };
        this.io.armTimer("auth-wait", result.wait * 1000);
      } else this.loginFailed(result.text, result.errorCode, true);
      return;
    }
    const { credentials, context } = this.login!;
    const user = result.user ?? credentials.user;
    // After APOP, CRAM-MD5 or EXTERNAL the client's "password" is a digest or nothing, never a backend password.
    const pass = result.pass ?? (yieldOf(credentials.method) === "password" ? credentials.pass : "");
    if (result.user !== undefined) this.ctx.login = result.user;
    this.login = undefined;
    this.phase = "login";
    // What the client sends from now on waits in the kernel for the relay.
    this.io.pause();
    this.ctx.upstream = hostPort(result.server, result.port);
    this.io.connectBackend({
      host: result.server,
      port: result.port,
      user,
      pass,
      // An Auth-Pass from the auth source replaces the client's OAuth payload at the backend.
      credentials: result.pass !== undefined && credentials.oauth ? { ...credentials, oauth: undefined } : credentials,
      context,
      proxySmtpAuth: result.proxySmtpAuth,
      sslUpstream: result.sslUpstream,
      backendDecides: result.backendDecides === true,
    });
  }

  /** The backend step ended: relay, or the client learns why not. */
  backendResult(outcome: BackendResult): void {
    const clientThere = this.phase === "login";
    if (outcome.type === "fail") {
      this.result = "backend-error";
      if (outcome.refusal && clientThere) {
        // Passthrough: the backend's words are the answer; the client may retry.
        this.io.log("info", `client login failed: "${printable(outcome.refusal.text)}"`);
        this.io.backendRefused();
        delete this.ctx.upstream;
        return this.loginFailed(outcome.refusal.text, outcome.refusal.errorCode, false, outcome.refusal.oauthChallenge);
      }
      // Logged even when the client left meanwhile: the backend's failure is news of its own.
      this.io.log("error", outcome.reason);
      if (!clientThere) return;
      this.write(this.server.proxy_pass_error_message && outcome.reply ? outcome.reply : this.lines.internalError);
      return this.closeAfterWrite();
    }
    if (!clientThere) return;
    this.write(outcome.toClient);
    this.phase = "relay";
    this.io.log("info", "client logged in");
    const pendingUp = this.machine!.takePending();
    // The dialogue is over: the machine would only hold memory for the rest of a long session.
    this.machine = undefined;
    this.io.startRelay(pendingUp);
  }

  /** The TLS handshake after STARTTLS completed: the dialogue goes on. */
  tlsStarted(): void {
    if (this.phase !== "tls" || !this.apply(this.machine!.tlsStarted())) return;
    this.phase = "preauth";
    this.armIdleTimer();
    this.io.resume();
  }

  /** The handshake (STARTTLS or implicit TLS) failed. */
  tlsFailed(error: string): void {
    this.result = "tls-failed";
    this.io.log("info", `TLS handshake failed: ${error}`);
    this.close();
    this.finished();
  }

  /** The client certificate is refused (invalid, or required and absent). */
  tlsCertRefused(line: "error" | "required"): void {
    this.write(line === "error" ? this.lines.certError : this.lines.certRequired);
    this.closeAfterWrite();
  }

  /** limit_conn: over the client IP's limit, the protocol's refusal line, then close. */
  tooManyConnections(perIp: number): void {
    this.result = "too-many-connections";
    this.io.log("warn", `limit_conn per_ip=${perIp} reached, connection refused`);
    this.write(this.lines.tooManyConnections);
    this.closeAfterWrite();
  }

  /** The opening step ended the session before a greeting (its reason logged by the shell). */
  closedEarly(result: string): void {
    this.result = result;
    this.close();
  }

  /** An unexpected failure ends this session only, with the protocol's internal error while a dialogue is on. */
  failed(message: string, clientThere: boolean): void {
    this.io.log("error", `session failed: ${message}`);
    if (this.machine && clientThere) this.internalError();
    else this.close();
  }

  /** Graceful shutdown: say goodbye before authentication; relays run on (the caller bounds the wait). */
  shutdown(): void {
    if (this.phase === "opening" || this.phase === "delay" || this.phase === "preauth") {
      this.write(this.machine ? this.lines.shutdown : "");
      this.closeAfterWrite();
    }
  }

  /** Fast stop. */
  abort(): void {
    this.close();
  }

  clientClosed(): void {
    // During the relay, the relay reports the end.
    if (this.phase !== "relay") this.finished();
  }

  relayEnded(end: string): void {
    this.result = end;
    this.finished();
  }

  private greeted(actions: Action[]): void {
    this.armIdleTimer();
    this.phase = "preauth";
    if (this.apply(actions)) this.io.resume();
  }

  /**
   * Carry out the client's pipelined commands a batch at a time (protocols.md §1.4).
   * The client is not read while a batch waits for its turn or its replies wait to
   * be written: a client that pipelines and never reads holds one batch of replies
   * and one chunk of input, not memory without bound, and cannot hold the event
   * loop from other clients. `drained()` and the next turn go on.
   */
  private readCommands(bytes: string): void {
    const busy = this.replyPending || this.turnPending;
    const actions = this.machine!.feed(bytes, busy ? 0 : COMMANDS_PER_TURN);
    if (actions.length === 0) {
      if (!busy) this.io.resume();
      return;
    }
    this.io.pause();
    if (!this.apply(actions)) return;
    // RFC 7628: a failed OAuth login without Auth-Wait closes once the client answered the error challenge.
    if (this.closeAfterFailureAck && !this.machine!.awaitingFailureAck) return this.closeAfterWrite();
    if (this.phase !== "preauth" || this.replyPending) return;
    this.turnPending = true;
    this.io.armTimer("turn", 0);
  }

  /**
   * The client's bytes once the first line shows it is not an HTTP request (none
   * while that is not known); an HTTP request closes the session unanswered, after
   * what was already on its way (the greeting).
   */
  private pastHttpGuard(bytes: string): string {
    const head = this.firstBytes + bytes;
    const verdict = firstLineVerdict(head);
    if (verdict === "undecided") {
      this.firstBytes = head;
      return "";
    }
    this.firstBytes = null;
    if (verdict === "mail") return head;
    this.result = "http-request";
    this.io.log("info", "client sent HTTP request to mail port, closing");
    this.closeAfterWrite();
    return "";
  }

  /**
   * While the auth service decides, the client is still read so that its leaving
   * ends the login (and a WAIT loop) at once. What it sends waits in the machine for
   * after the login; more than AUTH_HOLD_LIMIT of it ends the session.
   */
  private holdDuringAuth(bytes: string): void {
    this.heldDuringAuth += bytes.length;
    if (this.heldDuringAuth > AUTH_HOLD_LIMIT) {
      this.result = "too-long";
      this.io.log("info", "client sent too much data while in http auth state");
      return this.close();
    }
    this.machine!.feed(bytes, 0);
  }

  /** Carry out the machine's actions in order, replies in a row as one write; false once the session stopped reading commands. */
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
          this.result = action.reason;
          if (CLOSE_MESSAGES[action.reason]) this.io.log("info", CLOSE_MESSAGES[action.reason]);
          this.closeAfterWrite();
          return false;
        case "auth":
          this.askAuth(action.credentials, action.context);
          return true;
        case "starttls":
          this.phase = "tls";
          this.clearIdleTimer();
          this.io.upgradeTls();
          return true;
      }
    }
    this.write(replies);
    return true;
  }

  private askAuth(credentials: Credentials, context: LoginContext): void {
    this.phase = "auth";
    this.heldDuringAuth = 0;
    // Read on (holdDuringAuth) to notice the client leaving.
    this.io.resume();
    this.clearIdleTimer();
    this.attempt++;
    if (credentials.user) this.ctx.login = credentials.user;
    this.login = { credentials, context };
    this.io.askAuth(credentials, this.attempt);
  }

  /**
   * The login failed: the machine's refusal, then back to the pre-auth dialogue
   * (commands the client sent meanwhile come first), or closed (`closeAfter`: no
   * Auth-Wait), after the RFC 7628 error exchange when the login was OAuth.
   */
  private loginFailed(text: string, errorCode: string | undefined, closeAfter = false, oauthChallenge?: string): void {
    this.login = undefined;
    this.apply(this.machine!.authFailed(text, errorCode, closeAfter ? { closeAfter } : { oauthChallenge }));
    if (closeAfter) {
      if (!this.machine!.awaitingFailureAck) return this.closeAfterWrite();
      this.closeAfterFailureAck = true;
    }
    this.phase = "preauth";
    this.armIdleTimer();
    this.readCommands("");
  }

  private write(data: string): void {
    if (!data || this.phase === "closed") return;
    const accepted = this.io.write(data);
    if (this.phase === "preauth" && this.io.queued() > PREAUTH_QUEUE_LIMIT) {
      this.result = "too-many-replies";
      this.io.log("info", "client sent too many commands without reading the replies");
      return this.close();
    }
    if (!accepted && !this.replyPending) {
      // A client that does not read our replies gets `timeout` to catch up.
      this.replyPending = true;
      this.io.armTimer("write", this.server.timeout);
      this.io.awaitDrain();
    }
  }

  private timedOut(message: string): void {
    this.result = "timeout";
    this.io.log("info", message);
    this.close();
  }

  private internalError(): void {
    this.write(this.lines.internalError);
    this.closeAfterWrite();
  }

  private closeAfterWrite(): void {
    if (this.phase === "closing" || this.phase === "closed") return;
    this.phase = "closing";
    this.clearIdleTimer();
    this.io.closeAfterWrite();
    // Bound the flush by `timeout`, like every other write before the relay.
    this.io.armTimer("flush", this.server.timeout);
  }

  /** Destroy the connection; the client's close event ends the session (the relay's end, during the relay). */
  private close(): void {
    if (this.phase !== "relay" && this.phase !== "closed") this.phase = "closing";
    this.clearIdleTimer();
    this.io.clearTimer("write");
    this.io.destroy();
  }

  private finished(): void {
    if (this.phase === "closed") return;
    this.phase = "closed";
    for (const timer of TIMERS) this.io.clearTimer(timer);
    this.machine = undefined;
    this.login = undefined;
    this.io.ended();
  }

  private armIdleTimer(): void {
    this.io.armTimer("idle", this.server.timeout);
  }

  private clearIdleTimer(): void {
    this.io.clearTimer("idle");
  }
}

const TIMERS: readonly SessionTimer[] = ["idle", "write", "turn", "greeting", "auth-wait", "flush"];
