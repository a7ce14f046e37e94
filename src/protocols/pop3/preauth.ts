/**
 * The POP3 pre-authentication state machine (protocols.md §4), free of socket
 * I/O: fed client bytes, returns actions.
 */
import type { AuthMethodName, Protocol, StartTls } from "../../config/model.ts";
import type { Action, AuthFailureOptions, CloseReason, Credentials, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { LineReader } from "../line_reader.ts";
import { isOAuthMechanism, makeSalt, SaslExchange, type SaslResult, saslMechanism } from "../sasl.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { type Pop3Command, parsePop3Command } from "./command.ts";
import { pop3AuthListing, pop3Capa } from "./capabilities.ts";

export interface Pop3PreauthOptions {
  pop3_auth: readonly AuthMethodName[];
  pop3_capabilities: readonly string[];
  max_errors: number;
  starttls: StartTls;
  server_name: string;
  /** The listener is `ssl`: TLS is active from the start, STLS is refused. */
  implicitTls: boolean;
  /** Salt source (tests pin it); defaults to `makeSalt(server_name)`. */
  makeSalt?: () => string;
}

/** POP3's command buffer is fixed at 128 bytes, line end included. */
export const POP3_LINE_LIMIT = 128;
/** Beyond nginx: with XOAUTH2/OAUTHBEARER enabled a line must hold a bearer token. */
export const POP3_OAUTH_LINE_LIMIT = 8192;

const OK = "+OK\r\n";
const INVALID = "-ERR invalid command\r\n";

export const POP3_LINES: ProtocolLines = {
  internalError: "-ERR internal server error\r\n",
  certError: "-ERR SSL certificate error\r\n",
  certRequired: "-ERR No required SSL certificate\r\n",
  shutdown: "-ERR Server shutting down\r\n",
};

type State =
  | { kind: "initial" }
  | { kind: "user-given"; user: string }
  | { kind: "sasl"; exchange: SaslExchange }
  /** An `auth` action is out; input is buffered until authFailed() or the relay. */
  | { kind: "authenticating"; oauth: boolean }
  /** RFC 7628: the error challenge is out; the failure reply follows the client's dummy response. */
  | { kind: "oauth-error"; text: string; closeAfter: boolean }
  /** A `starttls` action is out; plaintext input is discarded until tlsStarted(). */
  | { kind: "tls-wait" }
  | { kind: "closed" };

export class Pop3Preauth implements PreauthMachine {
  readonly protocol: Protocol = "pop3";
  readonly lines = POP3_LINES;

  private readonly reader: LineReader;
  private state: State = { kind: "initial" };
  private tls: boolean;
  private errors = 0;
  /** The session salt, only when APOP or CRAM-MD5 is enabled (auth-http.md §2.4). */
  private readonly salt: string | undefined;

  constructor(private readonly opts: Pop3PreauthOptions) {
    this.tls = opts.implicitTls;
    const oauth = opts.pop3_auth.includes("xoauth2") || opts.pop3_auth.includes("oauthbearer");
    this.reader = new LineReader(oauth ? POP3_OAUTH_LINE_LIMIT : POP3_LINE_LIMIT);
    if (opts.pop3_auth.includes("apop") || opts.pop3_auth.includes("cram-md5")) {
      this.salt = opts.makeSalt ? opts.makeSalt() : makeSalt(opts.server_name);
    }
  }

  greeting(): Action[] {
    const suffix = this.salt === undefined ? "" : ` ${this.salt}`;
    return [send(`+OK POP3 ready${suffix}\r\n`)];
  }

  feed(bytes: string, maxActions = Infinity): Action[] {
    const kind = this.state.kind;
    if (kind === "closed" || kind === "tls-wait") return [];
    this.reader.push(bytes);
    const out: Action[] = [];
    while (this.accepting() && out.length < maxActions) {
      const event = this.reader.next();
      if (event === null) break;
      if (event.type === "too-long") {
        out.push(send(INVALID), this.close("too-long"));
      } else if (event.bareCr) {
        this.syntaxError(out);
      } else if (this.state.kind === "sasl") {
        this.saslStep(this.state.exchange, event.text, out);
      } else if (this.state.kind === "oauth-error") {
        this.oauthFailureReply(this.state, out);
      } else {
        const command = parsePop3Command(event.text);
        if (command === null) this.syntaxError(out);
        else this.execute(command, out);
      }
    }
    return out;
  }

  authFailed(text: string, _errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    if (this.state.kind === "authenticating" && this.state.oauth) {
      this.state = { kind: "oauth-error", text, closeAfter: options.closeAfter === true };
      return [send(`+ ${options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE}\r\n`)];
    }
    if (this.state.kind !== "closed") this.state = { kind: "initial" };
    return [send(`-ERR ${text}\r\n`)];
  }

  get awaitingFailureAck(): boolean {
    return this.state.kind === "oauth-error";
  }

  /** Whatever the client answered to the error challenge, the login failed. */
  private oauthFailureReply(failure: { text: string; closeAfter: boolean }, out: Action[]): void {
    this.state = failure.closeAfter ? { kind: "closed" } : { kind: "initial" };
    out.push(send(`-ERR ${failure.text}\r\n`));
  }

  tlsStarted(): void {
    this.tls = true;
    if (this.state.kind === "tls-wait") this.state = { kind: "initial" };
  }

  takePending(): string {
    return this.reader.takeRest();
  }

  /** Commands are read only in the dialogue states; auth, STLS and close stop the loop. */
  private accepting(): boolean {
    const kind = this.state.kind;
    return kind === "initial" || kind === "user-given" || kind === "sasl" || kind === "oauth-error";
  }

  private execute(command: Pop3Command, out: Action[]): void {
    if (this.state.kind === "user-given") {
      this.executeAfterUser(this.state.user, command, out);
      return;
    }
    const { verb, args } = command;
    switch (verb) {
      case "USER":
        if (this.starttlsOnly() || args.length !== 1) return this.rejected(out);
        this.state = { kind: "user-given", user: args[0] };
        out.push(send(OK));
        return;
      case "APOP":
        if (this.starttlsOnly() || args.length !== 2 || !this.opts.pop3_auth.includes("apop")) {
          return this.rejected(out);
        }
        return this.authenticate({ method: "apop", user: args[0], pass: args[1], salt: this.salt }, out);
      case "AUTH":
        return this.auth(args, out);
      case "CAPA":
        out.push(send(this.capa(false)));
        return;
      case "NOOP":
        out.push(send(OK));
        return;
      case "QUIT":
        out.push(send(OK), this.close("quit"));
        return;
      case "STLS":
        if (this.tls || this.opts.starttls === "off") return this.rejected(out);
        // Bytes behind STLS must not be read as commands after the handshake.
        this.reader.clear();
        this.state = { kind: "tls-wait" };
        out.push(send(OK), { type: "starttls" });
        return;
      case "PASS":
        return this.rejected(out);
    }
  }

  private executeAfterUser(user: string, { verb, args }: Pop3Command, out: Action[]): void {
    switch (verb) {
      case "PASS":
        if (args.length !== 1) return this.rejected(out);
        return this.authenticate({ method: "plain", user, pass: args[0] }, out);
      case "CAPA":
        out.push(send(this.capa(true)));
        return;
      case "NOOP":
        out.push(send(OK));
        return;
      case "QUIT":
        out.push(send(OK), this.close("quit"));
        return;
      default:
        return this.rejected(out);
    }
  }

  private auth(args: string[], out: Action[]): void {
    if (this.starttlsOnly()) return this.rejected(out);
    if (args.length === 0) {
      out.push(send(pop3AuthListing(this.opts.pop3_auth)));
      return;
    }
    const mechanism = saslMechanism(args[0]);
    if (mechanism === null) return this.rejected(out);
    if (mechanism === "CRAM-MD5" && !this.opts.pop3_auth.includes("cram-md5")) return this.rejected(out);
    if (mechanism === "EXTERNAL" && !this.opts.pop3_auth.includes("external")) return this.rejected(out);
    if (isOAuthMechanism(mechanism) && !this.opts.pop3_auth.includes(mechanism === "XOAUTH2" ? "xoauth2" : "oauthbearer")) {
      return this.rejected(out);
    }
    const exchange = new SaslExchange(mechanism, () => this.salt ?? "");
    this.saslResult(exchange, exchange.begin(args[1], Math.max(0, args.length - 2)), out);
  }

  private saslStep(exchange: SaslExchange, line: string, out: Action[]): void {
    this.saslResult(exchange, exchange.step(line), out);
  }

  private saslResult(exchange: SaslExchange, result: SaslResult, out: Action[]): void {
    switch (result.type) {
      case "challenge":
        this.state = { kind: "sasl", exchange };
        out.push(send(`+ ${result.text}\r\n`));
        return;
      case "done":
        return this.authenticate(result.credentials, out);
      case "invalid":
        return this.rejected(out);
    }
  }

  private authenticate(credentials: Credentials, out: Action[]): void {
    this.state = { kind: "authenticating", oauth: credentials.oauth !== undefined };
    out.push({ type: "auth", credentials, context: {} });
  }

  private capa(afterUser: boolean): string {
    return pop3Capa({
      capabilities: this.opts.pop3_capabilities,
      auth: this.opts.pop3_auth,
      starttls: this.opts.starttls,
      tlsActive: this.tls,
      afterUser,
    });
  }

  private starttlsOnly(): boolean {
    return this.opts.starttls === "only" && !this.tls;
  }

  /** A known command refused in this state: answered, not counted, back to the initial state. */
  private rejected(out: Action[]): void {
    this.state = { kind: "initial" };
    out.push(send(INVALID));
  }

  /** Rejected by the line parser: counted toward max_errors. */
  private syntaxError(out: Action[]): void {
    this.state = { kind: "initial" };
    this.errors++;
    out.push(send(INVALID));
    if (this.errors >= this.opts.max_errors) out.push(this.close("too-many-errors"));
  }

  private close(reason: CloseReason): Action {
    this.state = { kind: "closed" };
    return { type: "close", reason };
  }
}
