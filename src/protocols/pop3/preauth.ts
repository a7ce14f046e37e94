/**
 * The POP3 pre-authentication state machine (protocols.md §4), free of socket
 * I/O: fed client bytes, returns actions. The dialogue it shares with SMTP
 * (SASL, auth, STLS, errors) is a LineDialogue; here are POP3's commands.
 */
import type { AuthMethodName, Protocol, StartTls } from "../../config/model.ts";
import type { Action, AuthFailureOptions, Credentials, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { LineDialogue } from "../line_dialogue.ts";
import { isOAuthMechanism, makeSalt, SaslExchange, saslMechanism } from "../sasl.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { type Pop3Command, parsePop3Command } from "./command.ts";
import { pop3AuthListing, pop3Capa } from "./capabilities.ts";
import { credentialsFit } from "../../wire/wire.ts";
import { advertisedMechanisms, anySalted, mechanismAccepted } from "../mechanisms.ts";

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
const POP3_LINE_LIMIT = 128;
/** Beyond nginx: with XOAUTH2/OAUTHBEARER enabled a line must hold a bearer token. */
const POP3_OAUTH_LINE_LIMIT = 8192;

const OK = "+OK\r\n";
const INVALID = "-ERR invalid command\r\n";

export const POP3_LINES: ProtocolLines = {
  internalError: "-ERR internal server error\r\n",
  certError: "-ERR SSL certificate error\r\n",
  certRequired: "-ERR No required SSL certificate\r\n",
  shutdown: "-ERR Server shutting down\r\n",
  tooManyConnections: "-ERR Too many connections\r\n",
  tooManyFailures: { text: "[SYS/TEMP] Too many login failures, try again later" },
};

export class Pop3Preauth implements PreauthMachine {
  readonly protocol: Protocol = "pop3";
  readonly lines = POP3_LINES;

  private readonly dialogue: LineDialogue;
  private tls: boolean;
  /** The name a USER gave; the next command must be PASS (or CAPA, NOOP, QUIT). */
  private user: string | null = null;
  /** The session salt, only when APOP or CRAM-MD5 is enabled (auth-http.md §2.4). */
  private readonly salt: string | undefined;

  constructor(private readonly opts: Pop3PreauthOptions) {
    this.tls = opts.implicitTls;
    const oauth = advertisedMechanisms("pop3", opts.pop3_auth).some(isOAuthMechanism);
    this.dialogue = new LineDialogue({
      lineLimit: oauth ? POP3_OAUTH_LINE_LIMIT : POP3_LINE_LIMIT,
      maxErrors: opts.max_errors,
      words: { invalid: INVALID, challenge: (text) => `+ ${text}\r\n` },
      execute: (line, out) => this.execute(line, out),
      credentialsFit: (credentials) => credentialsFit("pop3", credentials),
      onReset: () => (this.user = null),
    });
    if (anySalted(opts.pop3_auth)) {
      this.salt = opts.makeSalt ? opts.makeSalt() : makeSalt(opts.server_name);
    }
  }

  greeting(): Action[] {
    const suffix = this.salt === undefined ? "" : ` ${this.salt}`;
    return [send(`+OK POP3 ready${suffix}\r\n`)];
  }

  feed(bytes: string, maxActions = Infinity): Action[] {
    return this.dialogue.feed(bytes, maxActions);
  }

  authFailed(text: string, _errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    const challenge = `+ ${options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE}\r\n`;
    return this.dialogue.authFailed(`-ERR ${text}\r\n`, challenge, options.closeAfter === true);
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
    const command = parsePop3Command(line);
    if (command === null) return this.dialogue.syntaxError(out);
    if (this.user !== null) return this.executeAfterUser(this.user, command, out);
    const { verb, args } = command;
    switch (verb) {
      case "USER":
        if (this.starttlsOnly() || args.length !== 1) return this.dialogue.rejected(out);
        this.user = args[0];
        out.push(send(OK));
        return;
      case "APOP":
        if (this.starttlsOnly() || args.length !== 2 || !this.opts.pop3_auth.includes("apop")) {
          return this.dialogue.rejected(out);
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
        out.push(send(OK), this.dialogue.close("quit"));
        return;
      case "STLS":
        if (this.tls || this.opts.starttls === "off") return this.dialogue.rejected(out);
        return this.dialogue.startTls(OK, out);
      case "PASS":
        return this.dialogue.rejected(out);
    }
  }

  private executeAfterUser(user: string, { verb, args }: Pop3Command, out: Action[]): void {
    switch (verb) {
      case "PASS":
        if (args.length !== 1) return this.dialogue.rejected(out);
        return this.authenticate({ method: "plain", user, pass: args[0] }, out);
      case "CAPA":
        out.push(send(this.capa(true)));
        return;
      case "NOOP":
        out.push(send(OK));
        return;
      case "QUIT":
        out.push(send(OK), this.dialogue.close("quit"));
        return;
      default:
        return this.dialogue.rejected(out);
    }
  }

  private auth(args: string[], out: Action[]): void {
    if (this.starttlsOnly()) return this.dialogue.rejected(out);
    if (args.length === 0) {
      out.push(send(pop3AuthListing(this.opts.pop3_auth)));
      return;
    }
    const mechanism = saslMechanism(args[0]);
    if (mechanism === null || !mechanismAccepted("pop3", mechanism, this.opts.pop3_auth)) return this.dialogue.rejected(out);
    const exchange = new SaslExchange(mechanism, () => this.salt ?? "");
    this.dialogue.saslResult(exchange, exchange.begin(args[1], Math.max(0, args.length - 2)), out);
  }

  /** USER/PASS or APOP: the USER is used up either way. */
  private authenticate(credentials: Credentials, out: Action[]): void {
    this.user = null;
    this.dialogue.authenticate(credentials, {}, out);
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
}
