/**
 * The IMAP not-authenticated state (protocols.md §3): greeting, CAPABILITY,
 * NOOP, LOGOUT, STARTTLS, LOGIN and AUTHENTICATE, up to the point where the
 * auth service must be asked. Fed client bytes, returns actions; no I/O.
 */
import type { EffectiveServer } from "../../config/model.ts";
import { makeSalt, SaslExchange, saslMechanism, type SaslResult } from "../sasl.ts";
import type { Action, AuthFailureOptions, CloseReason, Credentials, PreauthMachine, ProtocolLines } from "../types.ts";
import { send } from "../types.ts";
import { credentialsFit } from "../../wire/wire.ts";
import { OAUTH_ERROR_CHALLENGE } from "../oauth.ts";
import { imapCapabilityLine } from "./capabilities.ts";
import { mechanismAccepted } from "../mechanisms.ts";
import { ImapCommandReader, type ImapReaderEvent } from "./command_reader.ts";
import { ID_RESPONSE, type IdFields, parseIdArgument } from "./id.ts";

export type ImapPreauthOptions =
  & Pick<EffectiveServer, "imap_auth" | "imap_capabilities" | "imap_client_buffer" | "max_errors" | "starttls" | "server_name">
  & { implicitTls: boolean; imap_id?: boolean };

const IMAP_GREETING = "* OK IMAP4 ready\r\n";

export const IMAP_LINES: ProtocolLines = {
  internalError: "* BAD internal server error\r\n",
  certError: "* BYE SSL certificate error\r\n",
  certRequired: "* BYE No required SSL certificate\r\n",
  shutdown: "* BYE Server shutting down\r\n",
  tooManyConnections: "* BYE Too many connections\r\n",
  tooManyFailures: { text: "[UNAVAILABLE] Too many login failures, try again later" },
};

const UNTAGGED = "* ";
const OK = "OK completed\r\n";
const BAD = "BAD invalid command\r\n";
/** The answer to a synchronising literal. */
const LITERAL_CONTINUATION = "+ OK\r\n";

/** `tag` is the client's tag with its space ("a1 ") of the LOGIN/AUTHENTICATE in progress. */
type State =
  /** Reading tagged commands. */
  | { kind: "commands" }
  /** An AUTHENTICATE exchange is waiting for the client's next line. */
  | { kind: "sasl"; tag: string; exchange: SaslExchange }
  /** An `auth` action was returned; input is only buffered. */
  | { kind: "authenticating"; tag: string; oauth: boolean }
  /** A `starttls` action was returned; plaintext input is dropped until `tlsStarted()`. */
  | { kind: "starttls" }
  /** RFC 7628: the error challenge is out; the client's dummy response comes next, then `NO text`. */
  | { kind: "oauth-error"; tag: string; text: string; closeAfter: boolean }
  | { kind: "closed" };

/**
 * One client's IMAP dialogue before authentication.
 * @example
 *   const m = new ImapPreauth({ ...server, implicitTls: false });
 *   m.greeting(); // [{ type: "send", data: "* OK IMAP4 ready\r\n" }]
 *   m.feed("a1 LOGIN john secret\r\n"); // [{ type: "auth", credentials: {...}, context: { imapTag: "a1 " } }]
 */
export class ImapPreauth implements PreauthMachine {
  readonly protocol = "imap" as const;
  readonly lines = IMAP_LINES;

  private readonly reader: ImapCommandReader;
  private state: State = { kind: "commands" };
  private tls: boolean;
  private errors = 0;
  private salt: string | null = null;
  /** The client's ID fields (imap_id on), handed to the backend login for proxy_imap_id. */
  private clientId: IdFields | null = null;

  /** `newSalt` is replaceable for tests; by default `makeSalt` (auth-http.md §2.4). */
  constructor(
    private readonly opts: ImapPreauthOptions,
    private readonly newSalt: (serverName: string) => string = makeSalt,
  ) {
    this.tls = opts.implicitTls;
    this.reader = new ImapCommandReader(opts.imap_client_buffer, { id: opts.imap_id === true });
  }

  greeting(): Action[] {
    return [{ type: "send", data: IMAP_GREETING }];
  }

  feed(bytes: string, maxActions = Infinity): Action[] {
    if (this.state.kind === "closed" || this.state.kind === "starttls") return [];
    this.reader.push(bytes);
    const actions: Action[] = [];
    while (this.reading() && actions.length < maxActions) {
      const event = this.reader.next();
      if (!event) break;
      this.handle(event, actions);
    }
    return actions;
  }

  authFailed(text: string, _errorCode?: string, options: AuthFailureOptions = {}): Action[] {
    const state = this.state;
    if (state.kind !== "authenticating") return [];
    if (state.oauth) {
      this.state = { kind: "oauth-error", tag: state.tag, text, closeAfter: options.closeAfter === true };
      this.reader.expectLine();
      return [send(`+ ${options.oauthChallenge ?? OAUTH_ERROR_CHALLENGE}\r\n`)];
    }
    this.state = { kind: "commands" };
    return [send(`${state.tag}NO ${text}\r\n`)];
  }

  get awaitingFailureAck(): boolean {
    return this.state.kind === "oauth-error";
  }

  tlsStarted(): Action[] {
    this.tls = true;
    this.state = { kind: "commands" };
    this.reader.reset();
    return [];
  }

  takePending(): string {
    return this.reader.takeBuffered();
  }

  private handle(event: ImapReaderEvent, out: Action[]): void {
    switch (event.type) {
      case "literal-continue":
        out.push(send(LITERAL_CONTINUATION));
        return;
      case "too-long":
        this.close(out, `${this.replyTag(event.tag)}${BAD}`, "too-long");
        return;
      case "invalid":
        this.syntaxError(event.tag, event.endsInNonSyncLiteral, out);
        return;
      case "line":
        if (this.state.kind === "oauth-error") this.oauthFailureReply(this.state, out);
        else if (this.state.kind === "sasl") this.saslResult(this.state.tag, this.state.exchange, this.state.exchange.step(event.text), out);
        else this.reject(UNTAGGED, out);
        return;
      case "command":
        // Never during a SASL exchange: the reader was told to expect a line.
        this.command(event.tag, event.name, event.args, out);
        return;
    }
  }

  private command(tag: string, name: string, args: string[], out: Action[]): void {
    switch (name) {
      case "CAPABILITY":
        out.push(send(this.capabilityLine() + tag + OK));
        return;
      case "NOOP":
        out.push(send(tag + OK));
        return;
      case "LOGOUT":
        this.close(out, `* BYE\r\n${tag}${OK}`, "quit");
        return;
      case "STARTTLS":
        this.starttls(tag, out);
        return;
      case "LOGIN":
        this.login(tag, args, out);
        return;
      case "AUTHENTICATE":
        this.authenticate(tag, args, out);
        return;
      case "ID":
        this.id(tag, args[0] ?? "", out);
        return;
    }
  }

  private capabilityLine(): string {
    const words = this.opts.imap_capabilities;
    // What is accepted is advertised: ID once imap_id is on (unless already listed).
    const withId = this.opts.imap_id && !words.some((w) => w.toUpperCase() === "ID") ? [...words, "ID"] : words;
    return imapCapabilityLine({ ...this.opts, imap_capabilities: withId, tls: this.tls });
  }

  /** `ID` (imap_id on): the proxy tells nothing about itself and keeps the client's fields. */
  private id(tag: string, argument: string, out: Action[]): void {
    const fields = parseIdArgument(argument);
    if (fields === null) {
      this.syntaxError(tag, false, out);
      return;
    }
    this.clientId = fields;
    out.push(send(ID_RESPONSE + tag + OK));
  }

  private starttls(tag: string, out: Action[]): void {
    if (this.opts.starttls === "off" || this.tls) {
      this.reject(tag, out);
      return;
    }
    out.push(send(tag + OK));
    // Defence against command injection: nothing sent before the handshake counts.
    this.reader.reset();
    this.state = { kind: "starttls" };
    out.push({ type: "starttls" });
  }

  /** `starttls only` refuses authentication until TLS is active. */
  private authBlocked(): boolean {
    return this.opts.starttls === "only" && !this.tls;
  }

  private login(tag: string, args: string[], out: Action[]): void {
    if (this.authBlocked() || args.length !== 2 || args[0] === "") {
      this.reject(tag, out);
      return;
    }
    this.askAuth(tag, { method: "plain", user: args[0], pass: args[1] }, out);
  }

  private authenticate(tag: string, args: string[], out: Action[]): void {
    const mechanism = args.length > 0 ? saslMechanism(args[0]) : null;
    if (this.authBlocked() || !mechanism || !mechanismAccepted("imap", mechanism, this.opts.imap_auth)) {
      this.reject(tag, out);
      return;
    }
    const exchange = new SaslExchange(mechanism, () => this.sessionSalt());
    this.saslResult(tag, exchange, exchange.begin(args[1], Math.max(0, args.length - 2)), out);
  }

  private saslResult(tag: string, exchange: SaslExchange, result: SaslResult, out: Action[]): void {
    switch (result.type) {
      case "challenge":
        this.state = { kind: "sasl", tag, exchange };
        this.reader.expectLine();
        out.push(send(`+ ${result.text}\r\n`));
        return;
      case "invalid":
        // Tagged even after a bad AUTHENTICATE LOGIN user name, where nginx omits the tag.
        this.reject(tag, out);
        return;
      case "done":
        this.askAuth(tag, result.credentials, out);
        return;
    }
  }

  /** Whatever the client answered to the error challenge (`AQ==`, empty, `*`), the login failed. */
  private oauthFailureReply(failure: Extract<State, { kind: "oauth-error" }>, out: Action[]): void {
    out.push(send(`${failure.tag}NO ${failure.text}\r\n`));
    if (failure.closeAfter) {
      this.state = { kind: "closed" };
      this.reader.reset();
    } else this.state = { kind: "commands" };
  }

  private askAuth(tag: string, credentials: Credentials, out: Action[]): void {
    if (!credentialsFit("imap", credentials)) {
      this.reject(tag, out);
      return;
    }
    this.state = { kind: "authenticating", tag, oauth: credentials.oauth !== undefined };
    const context = this.clientId ? { imapTag: tag, imapId: this.clientId } : { imapTag: tag };
    out.push({ type: "auth", credentials, context });
  }

  /** One salt per session, made at the first CRAM-MD5 (auth-http.md §2.4). */
  private sessionSalt(): string {
    this.salt ??= this.newSalt(this.opts.server_name);
    return this.salt;
  }

  /** A semantic rejection: not counted toward max_errors. */
  private reject(tag: string, out: Action[]): void {
    const reply = this.replyTag(tag) + BAD;
    this.resetState();
    out.push(send(reply));
  }

  /** A line the parser rejected: counted toward max_errors. */
  private syntaxError(tag: string, endsInNonSyncLiteral: boolean, out: Action[]): void {
    const reply = this.replyTag(tag) + BAD;
    this.resetState();
    this.errors++;
    if (this.errors >= this.opts.max_errors) this.close(out, reply, "too-many-errors");
    else if (endsInNonSyncLiteral) this.close(out, reply, "unknown-literal");
    else out.push(send(reply));
  }

  /** Inside a SASL exchange the reader has no tag of its own: use AUTHENTICATE's. */
  private replyTag(tag: string): string {
    if (this.state.kind === "sasl" || this.state.kind === "oauth-error") return this.state.tag;
    return tag === "" ? UNTAGGED : tag;
  }

  /** Commands and SASL lines are read only in these states; auth, STARTTLS and close stop the loop. */
  private reading(): boolean {
    const kind = this.state.kind;
    return kind === "commands" || kind === "sasl" || kind === "oauth-error";
  }

  private resetState(): void {
    this.state = { kind: "commands" };
  }

  private close(out: Action[], data: string, reason: CloseReason): void {
    out.push(send(data), { type: "close", reason });
    this.state = { kind: "closed" };
    // Nothing after a close is ever interpreted or forwarded.
    this.reader.reset();
  }
}
