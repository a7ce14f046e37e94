/**
 * The SMTP pre-authentication state machine (protocols.md §5), free of socket
 * I/O: fed client bytes, returns actions. The greeting delay and its pipelining
 * check live in the session layer (it only needs SMTP_PIPELINING_REFUSED).
 */
import type { AuthMethodName, Protocol, StartTls } from "../../config/model.ts";
import type { Action, AuthFailureOptions, CloseReason, Credentials, LoginContext, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { LineReader } from "../line_reader.ts";
import { isOAuthMechanism, makeSalt, SaslExchange, type SaslResult, saslMechanism } from "../sasl.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { parseSmtpCommand, type SmtpCommand } from "./command.ts";
import { ehloReply } from "./capabilities.ts";

export interface SmtpPreauthOptions {
  smtp_auth: readonly AuthMethodName[];
  smtp_capabilities: readonly string[];
  /** Bytes per command line, line end included. */
  smtp_client_buffer: number;
  max_errors: number;
  starttls: StartTls;
  server_name: string;
  /** The listener is `ssl`: TLS is active from the start, STARTTLS is refused. */
  implicitTls: boolean;
  /** Salt source for CRAM-MD5 (tests pin it); defaults to `makeSalt(server_name)`. */
  makeSalt?: () => string;
}

/** The answer to a client that talks before a delayed greeting; the session closes after it. */
export const SMTP_PIPELINING_REFUSED = "503 5.5.0 Improper use of SMTP command pipelining\r\n";

/** Actions for a client that talked before the delayed greeting (protocols.md §5.2). */
export function smtpPipeliningRefused(): Action[] {
  return [{ type: "send", data: SMTP_PIPELINING_REFUSED }, { type: "close", reason: "pipelining" }];
}

export const SMTP_LINES: ProtocolLines = {
  internalError: "451 4.3.2 Internal server error\r\n",
  certError: "421 4.7.1 SSL certificate error\r\n",
  certRequired: "421 4.7.1 No required SSL certificate\r\n",
  shutdown: "421 4.3.2 Server shutting down\r\n",
};

const OK = "250 2.0.0 OK\r\n";
const INVALID = "500 5.5.1 Invalid command\r\n";
const INVALID_ARGUMENT = "501 5.5.4 Invalid argument\r\n";
const BAD_SEQUENCE = "503 5.5.1 Bad sequence of commands\r\n";
const AUTH_REQUIRED = "530 5.7.1 Authentication required\r\n";
const BYE = "221 2.0.0 Bye\r\n";
const START_TLS = "220 2.0.0 Start TLS\r\n";
const DEFAULT_AUTH_ERROR_CODE = "535 5.7.0";
/** RFC 4954 "authentication credentials invalid", what Gmail answers after the OAuth error challenge. */
const DEFAULT_OAUTH_ERROR_CODE = "535 5.7.8";

type State =
  | { kind: "initial" }
  | { kind: "sasl"; exchange: SaslExchange }
  /** An `auth` action is out; input is buffered until authFailed() or the relay. */
  | { kind: "authenticating"; oauth: boolean }
  /** RFC 7628: the error challenge is out; the failure reply follows the client's dummy response. */
  | { kind: "oauth-error"; reply: string; closeAfter: boolean }
  /** A `starttls` action is out; plaintext input is discarded until tlsStarted(). */
  | { kind: "tls-wait" }
  | { kind: "closed" };

export class SmtpPreauth implements PreauthMachine {
  readonly protocol: Protocol = "smtp";
  readonly lines = SMTP_LINES;

  private readonly reader: LineReader;
  private state: State = { kind: "initial" };
  private tls: boolean;
  private errors = 0;
  /** The last HELO/EHLO argument ("" when none). */
  private helo = "";
  /** True once the client used EHLO; survives STARTTLS like nginx's `esmtp` flag. */
  private esmtp = false;
  /** `smtp_auth none`: the stored MAIL and RCPT command texts ("" when none). */
  private mail = "";
  private rcpt = "";
  /** Created at the first CRAM-MD5 request and reused (auth-http.md §2.4). */
  private salt: string | undefined;

  constructor(private readonly opts: SmtpPreauthOptions) {
    this.tls = opts.implicitTls;
    this.reader = new LineReader(opts.smtp_client_buffer);
  }

  greeting(): Action[] {
    return [send(`220 ${this.opts.server_name} ESMTP ready\r\n`)];
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
        this.saslResult(this.state.exchange, this.state.exchange.step(event.text), out);
      } else if (this.state.kind === "oauth-error") {
        // Whatever the client answered to the error challenge, the login failed.
        out.push(send(this.state.reply));
        this.state = this.state.closeAfter ? { kind: "closed" } : { kind: "initial" };
      } else {
        const command = parseSmtpCommand(event.text);
        if (command === null) this.syntaxError(out);
        else this.execute(command, event.text, out);
      }
    }
    return out;
  }

  /** The HELO name and a stored MAIL survive; the RCPT that triggered `none` is dropped. */
  authFailed(text: string, errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    if (this.state.kind === "authenticating" && this.state.oauth) {
      const reply = `${errorCode || DEFAULT_OAUTH_ERROR_CODE} ${text}\r\n`;
      this.state = { kind: "oauth-error", reply, closeAfter: options.closeAfter === true };
      return [send(`334 ${options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE}\r\n`)];
    }
    if (this.state.kind !== "closed") this.state = { kind: "initial" };
    this.rcpt = "";
    return [send(`${errorCode || DEFAULT_AUTH_ERROR_CODE} ${text}\r\n`)];
  }

  get awaitingFailureAck(): boolean {
    return this.state.kind === "oauth-error";
  }

  tlsStarted(): void {
    this.tls = true;
    if (this.state.kind === "tls-wait") this.state = { kind: "initial" };
  }

  takePending(): string {
    return this.reader.takeRest();
  }

  /** Commands are read only in the dialogue states; auth, STARTTLS and close stop the loop. */
  private accepting(): boolean {
    const kind = this.state.kind;
    return kind === "initial" || kind === "sasl" || kind === "oauth-error";
  }

  private execute({ verb, args }: SmtpCommand, line: string, out: Action[]): void {
    switch (verb) {
      case "HELO":
      case "EHLO":
        if (args.length !== 1) {
          out.push(send(INVALID_ARGUMENT));
          return;
        }
        this.helo = args[0];
        this.mail = "";
        this.rcpt = "";
        if (verb === "EHLO") this.esmtp = true;
        out.push(send(verb === "HELO" ? `250 ${this.opts.server_name}\r\n` : this.ehlo()));
        return;
      case "AUTH":
        return this.auth(args, out);
      case "MAIL":
        if (!this.opts.smtp_auth.includes("none")) return void out.push(send(AUTH_REQUIRED));
        if (this.mail !== "") return void out.push(send(BAD_SEQUENCE));
        if (args.length === 0) return void out.push(send(INVALID_ARGUMENT));
        this.mail = commandText(line);
        out.push(send(OK));
        return;
      case "RCPT":
        if (this.mail === "") return void out.push(send(BAD_SEQUENCE));
        if (args.length === 0) return void out.push(send(INVALID_ARGUMENT));
        this.rcpt = commandText(line);
        return this.authenticate(
          { method: "none", user: "", pass: "", smtp: { helo: this.helo, from: this.mail, to: this.rcpt } },
          { smtpHelo: this.helo, smtpEsmtp: this.esmtp, smtpMail: this.mail, smtpRcpt: this.rcpt },
          out,
        );
      case "RSET":
        this.mail = "";
        this.rcpt = "";
        out.push(send(OK));
        return;
      case "NOOP":
        out.push(send(OK));
        return;
      case "QUIT":
        out.push(send(BYE), this.close("quit"));
        return;
      case "STARTTLS":
        if (this.tls || this.opts.starttls === "off") return void out.push(send(INVALID));
        // RFC 3207: forget what the client said in plaintext, and drop bytes sent behind the command.
        this.helo = "";
        this.mail = "";
        this.rcpt = "";
        this.reader.clear();
        this.state = { kind: "tls-wait" };
        out.push(send(START_TLS), { type: "starttls" });
        return;
      case "VRFY":
      case "EXPN":
      case "HELP":
        out.push(send(INVALID));
        return;
    }
  }

  private auth(args: string[], out: Action[]): void {
    if (this.opts.starttls === "only" && !this.tls) return this.rejected(out);
    if (args.length === 0) return void out.push(send(INVALID_ARGUMENT));
    const mechanism = saslMechanism(args[0]);
    if (mechanism === null) return this.rejected(out);
    if (mechanism === "CRAM-MD5" && !this.opts.smtp_auth.includes("cram-md5")) return this.rejected(out);
    if (mechanism === "EXTERNAL" && !this.opts.smtp_auth.includes("external")) return this.rejected(out);
    if (isOAuthMechanism(mechanism) && !this.opts.smtp_auth.includes(mechanism === "XOAUTH2" ? "xoauth2" : "oauthbearer")) {
      return this.rejected(out);
    }
    const exchange = new SaslExchange(mechanism, () => this.sessionSalt());
    this.saslResult(exchange, exchange.begin(args[1], Math.max(0, args.length - 2)), out);
  }

  private saslResult(exchange: SaslExchange, result: SaslResult, out: Action[]): void {
    switch (result.type) {
      case "challenge":
        this.state = { kind: "sasl", exchange };
        out.push(send(`334 ${result.text}\r\n`));
        return;
      case "done":
        return this.authenticate(result.credentials, { smtpHelo: this.helo, smtpEsmtp: this.esmtp }, out);
      case "invalid":
        return this.rejected(out);
    }
  }

  private authenticate(credentials: Credentials, context: LoginContext, out: Action[]): void {
    this.state = { kind: "authenticating", oauth: credentials.oauth !== undefined };
    out.push({ type: "auth", credentials, context });
  }

  private sessionSalt(): string {
    this.salt ??= this.opts.makeSalt ? this.opts.makeSalt() : makeSalt(this.opts.server_name);
    return this.salt;
  }

  private ehlo(): string {
    return ehloReply({
      serverName: this.opts.server_name,
      capabilities: this.opts.smtp_capabilities,
      auth: this.opts.smtp_auth,
      starttls: this.opts.starttls,
      tlsActive: this.tls,
    });
  }

  /** A known command refused (or a failed SASL step): answered, not counted, SASL aborted. */
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

/** MAIL/RCPT are stored as the whole command line without trailing spaces, like nginx. */
function commandText(line: string): string {
  return line.replace(/ +$/, "");
}
