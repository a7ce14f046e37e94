/**
 * Incremental reader of IMAP commands before authentication (protocols.md §3.2),
 * free of I/O. Bytes (binary strings) are pushed in arbitrary fragments; `next()`
 * returns one event at a time so the state machine can answer each command (and
 * switch the reader to SASL continuation lines) before the next one is parsed.
 *
 * The rules follow nginx's ngx_mail_imap_parse_command, except where the spec
 * chose otherwise: `{0}` is an empty argument, and only SP or end of line may
 * follow literal data.
 */

/** The commands the proxy knows before authentication (upper case). */
const IMAP_COMMANDS = ["CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "LOGIN", "AUTHENTICATE"] as const;
type ImapCommandName = (typeof IMAP_COMMANDS)[number];

const MAX_TAG_LENGTH = 32;
const MAX_ARGUMENTS = 3;

export type ImapReaderEvent =
  /**
   * A complete, well-formed command. `tag` keeps its trailing space ("a1 ").
   * `ID` (only with the `id` option) has one argument: the rest of its line, unparsed.
   */
  | { type: "command"; tag: string; name: ImapCommandName | "ID"; args: string[] }
  /** A synchronising literal `{N}` was announced: send `+ OK` now, the data follows. */
  | { type: "literal-continue" }
  /** A SASL continuation line (after `expectLine()`), without its line end. */
  | { type: "line"; text: string }
  /**
   * A syntax error; the rest of the line was skipped. `tag` is "" when no tag
   * could be parsed. `endsInNonSyncLiteral`: the line ended in `{N+}`, so the
   * bytes that follow cannot be interpreted and the connection must close.
   */
  | { type: "invalid"; tag: string; endsInNonSyncLiteral: boolean }
  /** The command (literals included) does not fit in the buffer; the reader stops. */
  | { type: "too-long"; tag: string };

type State =
  | "tag"
  | "before-command"
  | "command"
  | "before-argument"
  | "atom"
  | "quoted"
  | "quoted-backslash"
  | "literal-length"
  | "literal-plus"
  | "literal-header-end"
  | "literal-header-cr"
  | "literal-data"
  | "after-literal"
  | "almost-done"
  | "skip"
  | "line"
  | "line-cr"
  /** The rest of an `ID` line, kept raw for the ID parser (id.ts). */
  | "raw"
  | "stopped";

const CR = 13;
const LF = 10;
const SP = 32;
const QUOTE = 34;
const BACKSLASH = 92;

function isTagChar(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === 46 || c === 95;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function commandName(word: string): ImapCommandName | null {
  const upper = word.toUpperCase();
  return (IMAP_COMMANDS as readonly string[]).includes(upper) ? (upper as ImapCommandName) : null;
}

/**
 * Reads one command (or one SASL line) at a time from pushed bytes.
 * @example
 *   const r = new ImapCommandReader(4096);
 *   r.push("a1 LOGIN {4}\r\n");
 *   r.next(); // { type: "literal-continue" }
 *   r.push("john pass\r\n");
 *   r.next(); // { type: "command", tag: "a1 ", name: "LOGIN", args: ["john", "pass"] }
 */
export class ImapCommandReader {
  /** Unconsumed input; always starts at the beginning of the current command. */
  private buf = "";
  /** Bytes of `buf` already parsed (= bytes of the current command so far). */
  private pos = 0;
  private state: State = "tag";
  private tag = "";
  private word = "";
  private name: ImapCommandName | null = null;
  private args: string[] = [];
  private value = "";
  private literalLength = 0;
  private literalDigits = 0;
  private literalSync = true;
  /** Where the command word or the atom being read starts in `buf` (taken as one slice, not char by char). */
  private tokenStart = 0;
  private lineMode = false;
  private rawStart = 0;

  /**
   * `limit` is imap_client_buffer: the most bytes one command may take, literals and line end included.
   * `options.id` (imap_id on): `ID` is a command; otherwise it is a syntax error, as in nginx.
   */
  constructor(private readonly limit: number, private readonly options: { id?: boolean } = {}) {}

  /** Add client bytes (binary string). */
  push(bytes: string): void {
    if (bytes.length > 0 && this.state !== "stopped") this.buf += bytes;
  }

  /** The next input is a SASL continuation line, not a tagged command. */
  expectLine(): void {
    this.lineMode = true;
    if (this.pos === 0) this.state = "line";
  }

  /** Parse as far as possible; null when more bytes are needed. */
  next(): ImapReaderEvent | null {
    while (this.pos < this.buf.length && this.state !== "stopped") {
      if (this.state === "literal-data") {
        this.takeLiteralData();
        continue;
      }
      const c = this.buf.charCodeAt(this.pos++);
      const event = this.step(c);
      if (event) return event;
      if (this.pos >= this.limit) return this.tooLong();
    }
    return null;
  }

  /** Everything not yet consumed by an event; the reader starts afresh. */
  takeBuffered(): string {
    const rest = this.buf;
    this.reset();
    return rest;
  }

  /** Forget all buffered input and any partial command (after STARTTLS). */
  reset(): void {
    this.buf = "";
    this.lineMode = false;
    this.startCommand();
  }

  private startCommand(): void {
    this.buf = this.buf.slice(this.pos);
    this.pos = 0;
    this.state = this.lineMode ? "line" : "tag";
    this.tag = "";
    this.word = "";
    this.name = null;
    this.args = [];
    this.value = "";
    this.literalLength = 0;
    this.literalDigits = 0;
    this.literalSync = true;
  }

  private step(c: number): ImapReaderEvent | null {
    switch (this.state) {
      case "tag":
        if (c === SP && this.pos > 1) {
          this.tag = this.buf.slice(0, this.pos);
          this.state = "before-command";
          return null;
        }
        if (!isTagChar(c) || this.pos > MAX_TAG_LENGTH) return this.invalid(c);
        return null;

      case "before-command":
        if (c === SP) return null;
        if (!isLetter(c)) return this.invalid(c);
        this.tokenStart = this.pos - 1;
        this.state = "command";
        return null;

      case "command":
        if (isLetter(c)) return null;
        this.word = this.buf.slice(this.tokenStart, this.pos - 1);
        if (c !== SP && c !== CR && c !== LF) return this.invalid(c);
        if (this.options.id && this.word.toUpperCase() === "ID") {
          if (c !== SP) return this.invalid(c);
          this.rawStart = this.pos;
          this.state = "raw";
          return null;
        }
        this.name = commandName(this.word);
        if (!this.name) return this.invalid(c);
        return this.endOfToken(c);

      case "before-argument":
        if (c === SP) return null;
        if (c === CR || c === LF) return this.endOfToken(c);
        if (this.args.length >= MAX_ARGUMENTS) return this.invalid(c);
        this.value = "";
        if (c === QUOTE) this.state = "quoted";
        else if (c === 123 /* { */) {
          this.literalLength = 0;
          this.literalDigits = 0;
          this.literalSync = true;
          this.state = "literal-length";
        } else {
          this.tokenStart = this.pos - 1;
          this.state = "atom";
        }
        return null;

      case "atom":
        if (c === SP || c === CR || c === LF) {
          this.args.push(this.buf.slice(this.tokenStart, this.pos - 1));
          return this.endOfToken(c);
        }
        return null;

      case "quoted":
        if (c === BACKSLASH) {
          this.state = "quoted-backslash";
          return null;
        }
        if (c === QUOTE) {
          // Lenient like nginx: whatever follows the closing quote starts a new argument.
          this.args.push(this.value);
          this.state = "before-argument";
          return null;
        }
        if (c === CR || c === LF) {
          // An unterminated quoted string ends with the line.
          this.args.push(this.value);
          return this.endOfToken(c);
        }
        this.value += String.fromCharCode(c);
        return null;

      case "quoted-backslash":
        if (c === CR || c === LF) return this.invalid(c);
        this.value += String.fromCharCode(c);
        this.state = "quoted";
        return null;

      case "literal-length":
        if (isDigit(c)) {
          // Cap the value: anything this large is too long anyway.
          if (this.literalLength < 1e9) this.literalLength = this.literalLength * 10 + (c - 48);
          this.literalDigits++;
          return null;
        }
        if (this.literalDigits === 0) return this.invalid(c);
        if (c === 125 /* } */) {
          this.state = "literal-header-end";
          return null;
        }
        if (c === 43 /* + */) {
          this.literalSync = false;
          this.state = "literal-plus";
          return null;
        }
        return this.invalid(c);

      case "literal-plus":
        if (c !== 125 /* } */) return this.invalid(c);
        this.state = "literal-header-end";
        return null;

      case "literal-header-end":
        if (c === CR) {
          this.state = "literal-header-cr";
          return null;
        }
        if (c === LF) return this.startLiteralData();
        return this.invalid(c);

      case "literal-header-cr":
        if (c === LF) return this.startLiteralData();
        return this.invalid(c);

      case "after-literal":
        if (c === SP) {
          this.state = "before-argument";
          return null;
        }
        if (c === CR || c === LF) return this.endOfToken(c);
        return this.invalid(c);

      case "almost-done":
        if (c === LF) return this.complete();
        return this.invalid(c);

      case "skip":
        if (c === LF) return this.skipped();
        return null;

      case "line":
        if (c === CR) {
          this.state = "line-cr";
          return null;
        }
        if (c === LF) return this.completeLine(this.pos - 1);
        return null;

      case "line-cr":
        if (c === LF) return this.completeLine(this.pos - 2);
        return this.invalid(c);

      case "raw":
        if (c === LF) return this.completeRaw();
        return null;

      case "literal-data":
      case "stopped":
        return null;
    }
  }

  /** The LF ending an `ID` line was consumed. A literal there is refused (ID takes quoted strings here). */
  private completeRaw(): ImapReaderEvent {
    let end = this.pos - 1;
    if (end > this.rawStart && this.buf.charCodeAt(end - 1) === CR) end--;
    if (this.buf[end - 1] === "}") return this.skipped();
    const event: ImapReaderEvent = { type: "command", tag: this.tag, name: "ID", args: [this.buf.slice(this.rawStart, end)] };
    this.startCommand();
    return event;
  }

  /** After a command word or argument: SP continues, CR/LF finish the line. */
  private endOfToken(c: number): ImapReaderEvent | null {
    if (c === SP) {
      this.state = "before-argument";
      return null;
    }
    if (c === CR) {
      this.state = "almost-done";
      return null;
    }
    return this.complete();
  }

  private startLiteralData(): ImapReaderEvent | null {
    // The data and at least a line end must still fit: refuse now rather than
    // invite the client to send data that will be rejected anyway.
    if (this.pos + this.literalLength >= this.limit) return this.tooLong();
    if (this.literalLength === 0) {
      this.args.push("");
      this.state = "after-literal";
    } else {
      this.value = "";
      this.state = "literal-data";
    }
    return this.literalSync ? { type: "literal-continue" } : null;
  }

  private takeLiteralData(): void {
    const n = Math.min(this.literalLength, this.buf.length - this.pos);
    this.value += this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    this.literalLength -= n;
    if (this.literalLength === 0) {
      this.args.push(this.value);
      this.value = "";
      this.state = "after-literal";
    }
  }

  private complete(): ImapReaderEvent {
    const event: ImapReaderEvent = { type: "command", tag: this.tag, name: this.name!, args: this.args };
    this.startCommand();
    return event;
  }

  private completeLine(end: number): ImapReaderEvent {
    const event: ImapReaderEvent = { type: "line", text: this.buf.slice(0, end) };
    this.lineMode = false;
    this.startCommand();
    return event;
  }

  /** A syntax error at byte `c` (already consumed): skip to the end of the line. */
  private invalid(c: number): ImapReaderEvent | null {
    this.state = "skip";
    return c === LF ? this.skipped() : null;
  }

  /** The LF ending an invalid line was consumed. */
  private skipped(): ImapReaderEvent {
    let end = this.pos - 1;
    if (end > 0 && this.buf.charCodeAt(end - 1) === CR) end--;
    const endsInNonSyncLiteral = end >= 2 && this.buf.slice(end - 2, end) === "+}";
    const event: ImapReaderEvent = { type: "invalid", tag: this.tag, endsInNonSyncLiteral };
    this.lineMode = false;
    this.startCommand();
    return event;
  }

  private tooLong(): ImapReaderEvent {
    const event: ImapReaderEvent = { type: "too-long", tag: this.tag };
    this.buf = "";
    this.pos = 0;
    this.state = "stopped";
    return event;
  }
}
