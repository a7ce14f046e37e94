/**
 * The ManageSieve non-authenticated state (RFC 5804; beyond nginx): greeting, CAPABILITY,
 * NOOP, LOGOUT, STARTTLS and AUTHENTICATE, up to the point where the auth service must be
 * asked. Every other command before login gets NO. Fed client bytes, returns actions; no I/O.
 * Reply texts follow Dovecot's managesieve-login.
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import { SaslExchange, saslMechanism, type SaslResult } from "../sasl.ts";
import type { Action, AuthFailureOptions, CloseReason, Credentials, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { credentialsFit } from "../../wire/wire.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { mechanismAccepted } from "../mechanisms.ts";
import { sieveCapabilityLines, sieveQuote } from "./capabilities.ts";
import { SieveCommandReader, type SieveReaderEvent } from "./command_reader.ts";

export interface SievePreauthOptions {
  sieve_auth: readonly AuthMethodName[];
  sieve_capabilities: readonly string[];
  sieve_client_buffer: number;
  max_errors: number;
  starttls: StartTls;
  /** The listener is `ssl`: TLS is active from the start, STARTTLS is refused. */
  implicitTls: boolean;
}

export const SIEVE_LINES: ProtocolLines = {
  internalError: 'NO (TRYLATER) "Internal server error"\r\n',
  certError: 'BYE "SSL certificate error"\r\n',
  certRequired: 'BYE "No required SSL certificate"\r\n',
  shutdown: 'BYE "Server shutting down"\r\n',
  tooManyConnections: 'BYE "Too many connections"\r\n',
  tooManyFailures: { text: "Too many login failures, try again later" },
};

const GREETING = 'OK "ManageSieve ready."\r\n';
const CAPABILITY_DONE = 'OK "Capability completed."\r\n';
const NOOP_DONE = 'OK "NOOP Completed"\r\n';
const LOGOUT_DONE = 'OK "Logout completed."\r\n';
const BEGIN_TLS = 'OK "Begin TLS negotiation now."\r\n';
const TLS_DONE = 'OK "TLS negotiation successful."\r\n';
const INVALID = 'NO "Error in MANAGESIEVE command received by server."\r\n';
const NO_TLS = 'NO "TLS support isn\'t enabled."\r\n';
const TLS_ACTIVE = 'NO "TLS is already active."\r\n';
const UNSUPPORTED_MECHANISM = 'NO "Unsupported authentication mechanism."\r\n';
const ENCRYPT_NEEDED = 'NO (ENCRYPT-NEEDED) "Authentication requires TLS."\r\n';
const TOO_MANY_ERRORS = 'BYE "Too many invalid MANAGESIEVE commands."\r\n';
const TOO_LONG = 'BYE "Command too long."\r\n';

type State =
  /** Reading commands. */
  | { kind: "commands" }
  /** An AUTHENTICATE exchange waits for the client's next string. */
  | { kind: "sasl"; exchange: SaslExchange }
  /** An `auth` action was returned; input is only buffered. */
  | { kind: "authenticating"; oauth: boolean }
  /** A `starttls` action was returned; plaintext input is dropped until `tlsStarted()`. */
  | { kind: "starttls" }
  /** RFC 7628: the error challenge is out; the client's dummy response comes next, then `NO text`. */
  | { kind: "oauth-error"; text: string; closeAfter: boolean }
  | { kind: "closed" };

/**
 * @example
 *   const m = new SievePreauth({ ...server, implicitTls: false });
 *   m.greeting(); // [{ type: "send", data: '"IMPLEMENTATION" "mailproxy"\r\n…OK "ManageSieve ready."\r\n' }]
 *   m.feed('AUTHENTICATE "PLAIN" "AGFsaWNlAHNlY3JldA=="\r\n'); // [{ type: "auth", credentials: {...}, context: {} }]
 */
export class SievePreauth implements PreauthMachine {
  readonly protocol = "sieve" as const;
  readonly lines = SIEVE_LINES;

  private readonly reader: SieveCommandReader;
  private state: State = { kind: "commands" };
  private tls: boolean;
  private errors = 0;

  constructor(private readonly opts: SievePreauthOptions) {
    this.tls = opts.implicitTls;
    this.reader = new SieveCommandReader(opts.sieve_client_buffer);
  }

  greeting(): Action[] {
    return [send(this.capabilities() + GREETING)];
  }

  feed(bytes: string): Action[] {
    if (!this.reading()) return [];
    this.reader.push(bytes);
    const out: Action[] = [];
    while (this.reading()) {
      const event = this.reader.next();
      if (!event) break;
      this.handle(event, out);
    }
    return out;
  }

  authFailed(text: string, _errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    const state = this.state;
    if (state.kind !== "authenticating") return [];
    if (state.oauth) {
      this.state = { kind: "oauth-error", text, closeAfter: options.closeAfter === true };
      return [send(`${sieveQuote(options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE)}\r\n`)];
    }
    this.state = { kind: "commands" };
    return [send(refusal(text))];
  }

  get awaitingFailureAck(): boolean {
    return this.state.kind === "oauth-error";
  }

  /** RFC 5804 §2.2: after the handshake the server re-issues its capabilities, then OK. */
  tlsStarted(): Action[] {
    this.tls = true;
    this.state = { kind: "commands" };
    this.reader.reset();
    return [send(this.capabilities() + TLS_DONE)];
  }

  takePending(): string {
    return this.reader.takeBuffered();
  }

  private handle(event: SieveReaderEvent, out: Action[]): void {
    const state = this.state;
    if (event.type === "too-long") return this.close(out, TOO_LONG, "too-long");
    if (state.kind === "oauth-error") return this.oauthFailureReply(state, out);
    if (event.type === "invalid") return this.syntaxError(out);
    if (state.kind === "sasl") {
      // A SASL response is one string on its line; `"*"` (cancel) fails to decode and is refused.
      if (event.name !== "" || event.args.length !== 1) return this.reject(INVALID, out);
      return this.saslResult(state.exchange, state.exchange.step(event.args[0]!), out);
    }
    this.command(event.name, event.args, out);
  }

  private command(name: string, args: string[], out: Action[]): void {
    switch (name) {
      case "CAPABILITY":
        if (args.length > 0) return this.syntaxError(out);
        out.push(send(this.capabilities() + CAPABILITY_DONE));
        return;
      case "NOOP":
        if (args.length > 1) return this.syntaxError(out);
        // RFC 5804 §2.13: an argument comes back as the TAG response code.
        out.push(send(args.length === 0 ? NOOP_DONE : `OK (TAG ${clientString(args[0]!)}) "Done"\r\n`));
        return;
      case "LOGOUT":
        return this.close(out, LOGOUT_DONE, "quit");
      case "STARTTLS":
        return this.starttls(out);
      case "AUTHENTICATE":
        return this.authenticate(args, out);
      default:
        // Unknown, or a command of the authenticated state: counted like a syntax error.
        return this.syntaxError(out);
    }
  }

  private capabilities(): string {
    return sieveCapabilityLines({ ...this.opts, tls: this.tls });
  }

  private starttls(out: Action[]): void {
    if (this.opts.starttls === "off") return this.reject(NO_TLS, out);
    if (this.tls) return this.reject(TLS_ACTIVE, out);
    out.push(send(BEGIN_TLS), { type: "starttls" });
    // Defence against command injection: nothing sent before the handshake counts.
    this.reader.reset();
    this.state = { kind: "starttls" };
  }

  private authenticate(args: string[], out: Action[]): void {
    if (args.length < 1 || args.length > 2) return this.syntaxError(out);
    if (this.opts.starttls === "only" && !this.tls) return this.reject(ENCRYPT_NEEDED, out);
    const mechanism = saslMechanism(args[0]!);
    if (!mechanism || !mechanismAccepted("sieve", mechanism, this.opts.sieve_auth)) return this.reject(UNSUPPORTED_MECHANISM, out);
    // CRAM-MD5 has no row for sieve, so no salt is ever asked for.
    const exchange = new SaslExchange(mechanism, () => "");
    this.saslResult(exchange, exchange.begin(args[1], 0), out);
  }

  private saslResult(exchange: SaslExchange, result: SaslResult, out: Action[]): void {
    switch (result.type) {
      case "challenge":
        this.state = { kind: "sasl", exchange };
        out.push(send(`${sieveQuote(result.text)}\r\n`));
        return;
      case "invalid":
        return this.reject(INVALID, out);
      case "done":
        return this.askAuth(result.credentials, out);
    }
  }

  /** Whatever the client answered to the error challenge, the login failed. */
  private oauthFailureReply(failure: Extract<State, { kind: "oauth-error" }>, out: Action[]): void {
    out.push(send(refusal(failure.text)));
    if (failure.closeAfter) {
      this.state = { kind: "closed" };
      this.reader.reset();
    } else this.state = { kind: "commands" };
  }

  private askAuth(credentials: Credentials, out: Action[]): void {
    if (!credentialsFit("sieve", credentials)) return this.reject(INVALID, out);
    this.state = { kind: "authenticating", oauth: credentials.oauth !== undefined };
    out.push({ type: "auth", credentials, context: {} });
  }

  /** A command refused in this state: answered, not counted toward max_errors. */
  private reject(reply: string, out: Action[]): void {
    this.state = { kind: "commands" };
    out.push(send(reply));
  }

  /** A line the parser or the dispatcher rejected: counted toward max_errors. */
  private syntaxError(out: Action[]): void {
    this.state = { kind: "commands" };
    this.errors++;
    if (this.errors >= this.opts.max_errors) return this.close(out, TOO_MANY_ERRORS, "too-many-errors");
    out.push(send(INVALID));
  }

  /** Commands and SASL strings are read only in these states; auth, STARTTLS and close stop the loop. */
  private reading(): boolean {
    const kind = this.state.kind;
    return kind === "commands" || kind === "sasl" || kind === "oauth-error";
  }

  private close(out: Action[], data: string, reason: CloseReason): void {
    out.push(send(data), { type: "close", reason });
    this.state = { kind: "closed" };
    // Nothing after a close is ever interpreted or forwarded.
    this.reader.reset();
  }
}

/** `NO "text"` for the auth service's or the backend's refusal text. */
function refusal(text: string): string {
  return `NO ${sieveQuote(text)}\r\n`;
}

/** A client's own string echoed back: quoted when it can be, else a literal (RFC 5804 §4). */
function clientString(value: string): string {
  return /^[^\r\n\0"\\]*$/.test(value) ? sieveQuote(value) : `{${value.length}}\r\n${value}`;
}
