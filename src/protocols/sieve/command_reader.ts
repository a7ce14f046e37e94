/**
 * Incremental reader of ManageSieve commands (RFC 5804 §4), free of I/O. A command is a
 * word and arguments separated by spaces up to CRLF; an argument is a quoted string, a
 * literal `{n+}` or `{n}` (the server sends no continuation for either: RFC 5804 knows
 * none, and Dovecot waits for the data) or an atom (a number). A line without a command
 * word, only strings, is a SASL response (§2.1). Unlike IMAP there are no tags.
 *
 * Bytes are pushed in arbitrary fragments; `next()` returns one event at a time so the
 * machine can answer each command before the next one is parsed.
 */

export type SieveReaderEvent =
  /** A well-formed line: `name` upper-cased, "" for a SASL response (strings only). */
  | { type: "command"; name: string; args: string[] }
  /** A syntax error; the rest of the line (and a literal it announced) was skipped. */
  | { type: "invalid" }
  /** The command, literals included, does not fit in the buffer; the reader stops. */
  | { type: "too-long" };

type State =
  | "name"
  | "before-argument"
  | "atom"
  | "quoted"
  | "quoted-backslash"
  | "literal-length"
  | "literal-plus"
  | "literal-header-end"
  | "literal-header-cr"
  | "literal-data"
  | "after-string"
  | "almost-done"
  | "skip"
  | "skip-literal"
  | "stopped";

const CR = 13;
const LF = 10;
const SP = 32;
const QUOTE = 34;
const BACKSLASH = 92;
const OPEN_BRACE = 123;
const CLOSE_BRACE = 125;
const PLUS = 43;

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Atom bytes: printable ASCII but the string delimiters. */
function isAtomChar(c: number): boolean {
  return c > SP && c < 127 && c !== QUOTE && c !== OPEN_BRACE && c !== CLOSE_BRACE && c !== BACKSLASH;
}

/**
 * @example
 *   const r = new SieveCommandReader(4096);
 *   r.push('AUTHENTICATE "PLAIN" {16+}\r\nAGFsaWNlAHNlY3JldA\r\n');
 *   r.next(); // { type: "command", name: "AUTHENTICATE", args: ["PLAIN", "AGFsaWNlAHNlY3JldA"] }
 */
export class SieveCommandReader {
  /** Unconsumed input; always starts at the beginning of the current command. */
  private buf = "";
  /** Bytes of `buf` already parsed (= bytes of the current command so far). */
  private pos = 0;
  private state: State = "name";
  private name = "";
  private args: string[] = [];
  private value = "";
  private literalLength = 0;
  private literalDigits = 0;

  /** `limit` is sieve_client_buffer: the most bytes one command may take, literals and line end included. */
  constructor(private readonly limit: number) {}

  /** Add client bytes (binary string). */
  push(bytes: string): void {
    if (this.state !== "stopped") this.buf += bytes;
  }

  /** Parse as far as possible; null when more bytes are needed. */
  next(): SieveReaderEvent | null {
    while (this.pos < this.buf.length && this.state !== "stopped") {
      if (this.state === "literal-data" || this.state === "skip-literal") {
        this.takeLiteralData();
        continue;
      }
      const event = this.step(this.buf.charCodeAt(this.pos++));
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

  /** Forget all buffered input and any partial command (after STARTTLS, on close). */
  reset(): void {
    this.buf = "";
    this.pos = 0;
    this.startCommand();
  }

  private startCommand(): void {
    this.buf = this.buf.slice(this.pos);
    this.pos = 0;
    this.state = "name";
    this.name = "";
    this.args = [];
    this.value = "";
  }

  private step(c: number): SieveReaderEvent | null {
    switch (this.state) {
      case "name":
        if (isLetter(c)) {
          this.name += String.fromCharCode(c);
          return null;
        }
        // A line that starts with a string is a SASL response: no command word.
        if (this.name === "" && (c === QUOTE || c === OPEN_BRACE)) return this.startArgument(c);
        if (this.name === "") return this.invalid(c);
        return this.endOfToken(c);

      case "before-argument":
        if (c === SP) return null;
        if (c === CR || c === LF) return this.endOfToken(c);
        return this.startArgument(c);

      case "atom":
        if (isAtomChar(c)) {
          this.value += String.fromCharCode(c);
          return null;
        }
        this.args.push(this.value);
        return this.endOfToken(c);

      case "quoted":
        if (c === BACKSLASH) this.state = "quoted-backslash";
        else if (c === QUOTE) {
          this.args.push(this.value);
          this.state = "after-string";
        } else if (c === CR || c === LF || c === 0) return this.invalid(c);
        else this.value += String.fromCharCode(c);
        return null;

      case "quoted-backslash":
        // RFC 5804 QUOTED-SPECIALS: only `"` and `\` may be escaped.
        if (c !== QUOTE && c !== BACKSLASH) return this.invalid(c);
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
        if (c === PLUS) this.state = "literal-plus";
        else if (c === CLOSE_BRACE) this.state = "literal-header-end";
        else return this.invalid(c);
        return null;

      case "literal-plus":
        if (c !== CLOSE_BRACE) return this.invalid(c);
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

      case "after-string":
        if (c === SP || c === CR || c === LF) return this.endOfToken(c);
        return this.invalid(c);

      case "almost-done":
        if (c === LF) return this.complete();
        return this.invalid(c);

      case "skip":
        return c === LF ? this.skipped() : null;

      case "literal-data":
      case "skip-literal":
      case "stopped":
        return null;
    }
  }

  private startArgument(c: number): SieveReaderEvent | null {
    this.value = "";
    if (c === QUOTE) this.state = "quoted";
    else if (c === OPEN_BRACE) {
      this.literalLength = 0;
      this.literalDigits = 0;
      this.state = "literal-length";
    } else if (isAtomChar(c) && this.name !== "") {
      this.value = String.fromCharCode(c);
      this.state = "atom";
    } else return this.invalid(c);
    return null;
  }

  /** After a command word or argument: SP continues, CR/LF finish the line. */
  private endOfToken(c: number): SieveReaderEvent | null {
    if (c === SP) this.state = "before-argument";
    else if (c === CR) this.state = "almost-done";
    else if (c === LF) return this.complete();
    else return this.invalid(c);
    return null;
  }

  private startLiteralData(): SieveReaderEvent | null {
    // The data and at least a line end must still fit: refuse now, not after the data.
    if (this.pos + this.literalLength >= this.limit) return this.tooLong();
    this.state = "literal-data";
    if (this.literalLength === 0) this.endLiteral();
    return null;
  }

  private takeLiteralData(): void {
    const n = Math.min(this.literalLength, this.buf.length - this.pos);
    if (this.state === "literal-data") this.value += this.buf.slice(this.pos, this.pos + n);
    this.pos += n;
    this.literalLength -= n;
    if (this.literalLength === 0) this.endLiteral();
  }

  private endLiteral(): void {
    if (this.state === "skip-literal") {
      this.state = "skip";
      return;
    }
    this.args.push(this.value);
    this.value = "";
    this.state = "after-string";
  }

  private complete(): SieveReaderEvent {
    const event: SieveReaderEvent = { type: "command", name: this.name.toUpperCase(), args: this.args };
    this.startCommand();
    return event;
  }

  /** A syntax error at byte `c` (already consumed): skip to the end of the line. */
  private invalid(c: number): SieveReaderEvent | null {
    this.state = "skip";
    return c === LF ? this.skipped() : null;
  }

  /**
   * The LF ending an invalid line was consumed. When the line announced a literal, its
   * bytes are data, never commands: they are skipped too, and so is the rest of the line.
   */
  private skipped(): SieveReaderEvent | null {
    let end = this.pos - 1;
    if (end > 0 && this.buf.charCodeAt(end - 1) === CR) end--;
    const literal = /\{(\d{1,9})\+?\}$/.exec(this.buf.slice(Math.max(0, end - 12), end));
    if (literal) {
      this.literalLength = Number(literal[1]);
      if (this.pos + this.literalLength >= this.limit) return this.tooLong();
      this.state = this.literalLength > 0 ? "skip-literal" : "skip";
      return null;
    }
    this.startCommand();
    return { type: "invalid" };
  }

  private tooLong(): SieveReaderEvent {
    this.buf = "";
    this.pos = 0;
    this.state = "stopped";
    return { type: "too-long" };
  }
}
