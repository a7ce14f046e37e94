/**
 * What the line-based protocols (POP3, SMTP) share before authentication: one command
 * per line, SASL exchanges, the auth round trip and the RFC 7628 failure exchange,
 * STARTTLS, max_errors and closing. A protocol's machine composes one LineDialogue and
 * brings its own words and commands. No I/O.
 */
import type { Action, CloseReason, Credentials, LoginContext } from "./types.ts";
import { send } from "./types.ts";
import { LineReader } from "./line_reader.ts";
import type { SaslExchange, SaslResult } from "./sasl.ts";

/** A protocol's own words in the shared dialogue. */
interface DialogueWords {
  /** The reply to a line that is too long or cannot be parsed, and to a refused command. */
  invalid: string;
  /** A SASL challenge line for base64 `text` ("+ text", "334 text"). */
  challenge(text: string): string;
}

type State =
  /** Reading command lines. */
  | { kind: "commands" }
  /** A SASL exchange waits for the client's next line. */
  | { kind: "sasl"; exchange: SaslExchange }
  /** An `auth` action is out; input is buffered until authFailed() or the relay. */
  | { kind: "authenticating"; oauth: boolean }
  /** RFC 7628: the error challenge is out; `reply` follows the client's dummy response. */
  | { kind: "oauth-error"; reply: string; closeAfter: boolean }
  /** A `starttls` action is out; plaintext input is discarded until tlsStarted(). */
  | { kind: "tls-wait" }
  | { kind: "closed" };

interface LineDialogueOptions {
  /** Bytes per command line, line end included. */
  lineLimit: number;
  maxErrors: number;
  words: DialogueWords;
  /** Runs each complete command line while the dialogue reads commands. */
  execute: (line: string, out: Action[]) => void;
  /** Whether the backend login can carry these credentials (wire/wire.ts credentialsFit); else they are refused. */
  credentialsFit: (credentials: Credentials) => boolean;
  /** What the backend login needs beyond a SASL exchange's credentials (SMTP: the HELO name). */
  loginContext?: () => LoginContext;
  /** Called whenever the dialogue falls back to reading commands after a refusal (POP3 forgets a USER). */
  onReset?: () => void;
}

export class LineDialogue {
  private readonly reader: LineReader;
  private state: State = { kind: "commands" };
  private errors = 0;

  constructor(private readonly opts: LineDialogueOptions) {
    this.reader = new LineReader(opts.lineLimit);
  }

  /** See PreauthMachine.feed. */
  feed(bytes: string, maxActions = Infinity): Action[] {
    const kind = this.state.kind;
    if (kind === "closed" || kind === "tls-wait") return [];
    this.reader.push(bytes);
    const out: Action[] = [];
    while (this.reading() && out.length < maxActions) {
      const event = this.reader.next();
      if (event === null) break;
      const state: State = this.state;
      if (event.type === "too-long") out.push(send(this.opts.words.invalid), this.close("too-long"));
      else if (event.bareCr) this.syntaxError(out);
      else if (state.kind === "sasl") this.saslResult(state.exchange, state.exchange.step(event.text), out);
      else if (state.kind === "oauth-error") {
        // Whatever the client answered to the error challenge, the login failed.
        out.push(send(state.reply));
        this.state = state.closeAfter ? { kind: "closed" } : { kind: "commands" };
      } else this.opts.execute(event.text, out);
    }
    return out;
  }

  /**
   * The auth service refused: `reply` now, or after an OAuth login the error
   * `challengeLine` now and `reply` once the client answered it.
   */
  authFailed(reply: string, challengeLine: string, closeAfter: boolean): Action[] {
    if (this.state.kind === "authenticating" && this.state.oauth) {
      this.state = { kind: "oauth-error", reply, closeAfter };
      return [send(challengeLine)];
    }
    if (this.state.kind !== "closed") this.state = { kind: "commands" };
    return [send(reply)];
  }

  /** An OAuth login waits for the auth service (its failure will need the RFC 7628 exchange). */
  get oauthPending(): boolean {
    return this.state.kind === "authenticating" && this.state.oauth;
  }

  get awaitingFailureAck(): boolean {
    return this.state.kind === "oauth-error";
  }

  /** Start a SASL exchange, or go on with one, from its result. */
  saslResult(exchange: SaslExchange, result: SaslResult, out: Action[]): void {
    switch (result.type) {
      case "challenge":
        this.state = { kind: "sasl", exchange };
        out.push(send(this.opts.words.challenge(result.text)));
        return;
      case "done":
        return this.authenticate(result.credentials, this.opts.loginContext?.() ?? {}, out);
      case "invalid":
        return this.rejected(out);
    }
  }

  /** Ask the auth service; input waits until authFailed() or the relay. */
  authenticate(credentials: Credentials, context: LoginContext, out: Action[]): void {
    if (!this.opts.credentialsFit(credentials)) return this.rejected(out);
    this.state = { kind: "authenticating", oauth: credentials.oauth !== undefined };
    out.push({ type: "auth", credentials, context });
  }

  /** Answer the upgrade command and hand over to TLS; bytes sent behind the command are dropped. */
  startTls(reply: string, out: Action[]): void {
    this.reader.clear();
    this.state = { kind: "tls-wait" };
    out.push(send(reply), { type: "starttls" });
  }

  tlsStarted(): void {
    if (this.state.kind === "tls-wait") this.state = { kind: "commands" };
  }

  takePending(): string {
    return this.reader.takeRest();
  }

  /** A known command refused in this state (or a failed SASL step): answered, not counted, back to commands. */
  rejected(out: Action[]): void {
    this.reset();
    out.push(send(this.opts.words.invalid));
  }

  /** A line the parser rejected: answered and counted toward max_errors. */
  syntaxError(out: Action[]): void {
    this.reset();
    this.errors++;
    out.push(send(this.opts.words.invalid));
    if (this.errors >= this.opts.maxErrors) out.push(this.close("too-many-errors"));
  }

  close(reason: CloseReason): Action {
    this.state = { kind: "closed" };
    return { type: "close", reason };
  }

  /** Commands are read only in the dialogue states; auth, STARTTLS and close stop the loop. */
  private reading(): boolean {
    const kind = this.state.kind;
    return kind === "commands" || kind === "sasl" || kind === "oauth-error";
  }

  private reset(): void {
    this.state = { kind: "commands" };
    this.opts.onReset?.();
  }
}
