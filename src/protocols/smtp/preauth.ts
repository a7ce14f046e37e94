/**
 * The SMTP pre-authentication state machine (protocols.md §5), free of socket
 * I/O: fed client bytes, returns actions. The dialogue it shares with POP3
 * (SASL, auth, STARTTLS, errors) is a LineDialogue; here are SMTP's commands.
 * The greeting delay (smtp_greeting_delay) is a `delay-greeting` action; a client
 * that talks during it gets the pipelining refusal from `earlyInput()`.
 */
import type { AuthMethodName, Protocol, StartTls } from "../../config/model.ts";
import type { Action, AuthFailureOptions, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { LineDialogue } from "../line_dialogue.ts";
import { makeSalt, SaslExchange, saslMechanism } from "../sasl.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { parseSmtpCommand } from "./command.ts";
import { ehloReply } from "./capabilities.ts";
import { credentialsFit } from "../../wire/wire.ts";
import { mechanismAccepted } from "../mechanisms.ts";

export interface SmtpPreauthOptions {
  smtp_auth: readonly AuthMethodName[];
  smtp_capabilities: readonly string[];
  /** Bytes per command line, line end included. */
  smtp_client_buffer: number;
  max_errors: number;
  starttls: StartTls;
  server_name: string;
  /** ms to wait before the greeting (0: none). */
  smtp_greeting_delay?: number;
  /** The listener is `ssl`: TLS is active from the start, STARTTLS is refused. */
  implicitTls: boolean;
  /** Salt source for CRAM-MD5 (tests pin it); defaults to `makeSalt(server_name)`. */
  makeSalt?: () => string;
}

/** The answer to a client that talks before a delayed greeting (protocols.md §5.2); closed after it. */
const PIPELINING_REFUSED = "503 5.5.0 Improper use of SMTP command pipelining\r\n";

export const SMTP_LINES: ProtocolLines = {
  internalError: "451 4.3.2 Internal server error\r\n",
  certError: "421 4.7.1 SSL certificate error\r\n",
  certRequired: "421 4.7.1 No required SSL certificate\r\n",
  shutdown: "421 4.3.2 Server shutting down\r\n",
  tooManyConnections: "421 4.7.0 Too many connections\r\n",
  tooManyFailures: { text: "Too many login failures, try again later", errorCode: "454 4.7.0" },
};

const OK = "250 2.0.0 OK\r\n";
const INVALID = "500 5.5.1 Invalid command\r\n";
const INVALID_ARGUMENT = "501 5.5.4 Invalid argument\r\n";
/** Commands whose text is passed on (HELO name, MAIL and RCPT lines). */
const CARRIES_TEXT: ReadonlySet<string> = new Set(["HELO", "EHLO", "MAIL", "RCPT"]);
const CONTROL_BYTE = /[\x00-\x1f\x7f]/;
const BAD_SEQUENCE = "503 5.5.1 Bad sequence of commands\r\n";
const AUTH_REQUIRED = "530 5.7.1 Authentication required\r\n";
const BYE = "221 2.0.0 Bye\r\n";
const START_TLS = "220 2.0.0 Start TLS\r\n";
const DEFAULT_AUTH_ERROR_CODE = "535 5.7.0";
/** RFC 4954 "authentication credentials invalid", what Gmail answers after the OAuth error challenge. */
const DEFAULT_OAUTH_ERROR_CODE = "535 5.7.8";

export class SmtpPreauth implements PreauthMachine {
  readonly protocol: Protocol = "smtp";
  readonly lines = SMTP_LINES;

  private readonly dialogue: LineDialogue;
  private tls: boolean;
  /** The last HELO/EHLO argument ("" when none). */
  private helo = "";
  /** True once the client used EHLO; survives STARTTLS like nginx's `esmtp` flag. */
  private esmtp = false;
  /** `smtp_auth none`: the stored MAIL and RCPT command texts ("" when none). */
  private mail = "";
  private rcpt = "";
  /** Created at the first CRAM-MD5 request and reused (auth-http.md §2.4). */
  private salt: string | undefined;
  /** smtp_greeting_delay is still to be waited. */
  private delayDue: boolean;

  constructor(private readonly opts: SmtpPreauthOptions) {
    this.tls = opts.implicitTls;
    this.delayDue = (opts.smtp_greeting_delay ?? 0) > 0;
    this.dialogue = new LineDialogue({
      lineLimit: opts.smtp_client_buffer,
      maxErrors: opts.max_errors,
      words: { invalid: INVALID, challenge: (text) => `334 ${text}\r\n` },
      execute: (line, out) => this.execute(line, out),
      credentialsFit: (credentials) => credentialsFit("smtp", credentials),
      loginContext: () => ({ smtpHelo: this.helo, smtpEsmtp: this.esmtp }),
    });
  }

  greeting(): Action[] {
    if (this.delayDue) {
      this.delayDue = false;
      return [{ type: "delay-greeting", ms: this.opts.smtp_greeting_delay! }];
    }
    return [send(`220 ${this.opts.server_name} ESMTP ready\r\n`)];
  }

  /** Like nginx, the first byte before the delayed greeting ends the dialogue. */
  earlyInput(): Action[] {
    return [send(PIPELINING_REFUSED), this.dialogue.close("pipelining")];
  }

  feed(bytes: string, maxActions = Infinity): Action[] {
    return this.dialogue.feed(bytes, maxActions);
  }

  /** The HELO name and a stored MAIL survive; the RCPT that triggered `none` is dropped. */
  authFailed(text: string, errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    this.rcpt = "";
    const challenge = `334 ${options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE}\r\n`;
    const code = errorCode || (this.dialogue.oauthPending ? DEFAULT_OAUTH_ERROR_CODE : DEFAULT_AUTH_ERROR_CODE);
    return this.dialogue.authFailed(`${code} ${text}\r\n`, challenge, options.closeAfter === true);
  }

  get awaitingFailureAck(): boolean {
    return this.dialogue.awaitingFailureAck;
  }

  tlsStarted(): Action[] {
    this.tls = true;
    this.dialogue.tlsStarted();
    return [];
  }

  takePending(): string {
    return this.dialogue.takePending();
  }

  private execute(line: string, out: Action[]): void {
    const command = parseSmtpCommand(line);
    if (command === null) return this.dialogue.syntaxError(out);
    const { verb, args } = command;
    // These texts go to the auth service (Auth-SMTP-*) and the backend as sent: printable only.
    if (CARRIES_TEXT.has(verb) && CONTROL_BYTE.test(line)) return void out.push(send(INVALID_ARGUMENT));
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
        return this.dialogue.authenticate(
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
        out.push(send(BYE), this.dialogue.close("quit"));
        return;
      case "STARTTLS":
        if (this.tls || this.opts.starttls === "off") return void out.push(send(INVALID));
        // RFC 3207: forget what the client said in plaintext, and drop bytes sent behind the command.
        this.helo = "";
        this.mail = "";
        this.rcpt = "";
        return this.dialogue.startTls(START_TLS, out);
      case "VRFY":
      case "EXPN":
      case "HELP":
        out.push(send(INVALID));
        return;
    }
  }

  private auth(args: string[], out: Action[]): void {
    if (this.opts.starttls === "only" && !this.tls) return this.dialogue.rejected(out);
    if (args.length === 0) return void out.push(send(INVALID_ARGUMENT));
    const mechanism = saslMechanism(args[0]);
    if (mechanism === null || !mechanismAccepted("smtp", mechanism, this.opts.smtp_auth)) return this.dialogue.rejected(out);
    const exchange = new SaslExchange(mechanism, () => this.sessionSalt());
    this.dialogue.saslResult(exchange, exchange.begin(args[1], Math.max(0, args.length - 2)), out);
  }

  private sessionSalt(): string {
    this.salt ??= this.opts.makeSalt ? this.opts.makeSalt() : makeSalt(this.opts.server_name);
    return this.salt;
  }

  /** The EHLO reply depends on the options and TLS only: built once per options object (one per server). */
  private ehlo(): string {
    let replies = EHLO_REPLIES.get(this.opts);
    if (!replies) EHLO_REPLIES.set(this.opts, replies = []);
    return replies[this.tls ? 1 : 0] ??= ehloReply({
      serverName: this.opts.server_name,
      capabilities: this.opts.smtp_capabilities,
      auth: this.opts.smtp_auth,
      starttls: this.opts.starttls,
      tlsActive: this.tls,
    });
  }
}

/** Options object → [plaintext, TLS] EHLO replies. */
const EHLO_REPLIES = new WeakMap<SmtpPreauthOptions, [string?, string?]>();

/** MAIL/RCPT are stored as the whole command line without trailing spaces, like nginx. */
function commandText(line: string): string {
  return line.replace(/ +$/, "");
}
