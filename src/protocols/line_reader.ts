/**
 * Incremental command-line reader for POP3 and SMTP (protocols.md §1.4).
 *
 * Fed arbitrary fragments of client bytes (binary strings); hands out one
 * line at a time. A line ends at LF, with an optional CR before it. A CR
 * anywhere else makes the line invalid (nginx's parser rejects a CR that is not
 * followed by LF) but the line still runs to the next LF, as nginx skips an
 * invalid command up to LF.
 *
 * The limit is the size of nginx's command buffer: a line, its line end
 * included, must fit in `limit` bytes. When `limit` bytes are buffered without
 * an LF among them the line is too long; the session then answers the
 * invalid-command line and closes, so the reader stops producing lines.
 */

export type LineEvent =
  /** `text` excludes the line end. `bareCr` is true when a CR not followed by LF occurs in it. */
  | { type: "line"; text: string; bareCr: boolean }
  /** The buffered line exceeds the limit. Final: no more events follow. */
  | { type: "too-long" };

export class LineReader {
  private buffer = "";
  private overflowed = false;

  /** @param limit bytes per line including CRLF (POP3: 128; SMTP: smtp_client_buffer). */
  constructor(private readonly limit: number) {}

  /** Append client bytes. */
  push(bytes: string): void {
    if (bytes.length > 0) this.buffer += bytes;
  }

  /** The next complete line, a too-long report, or null when more bytes are needed. */
  next(): LineEvent | null {
    if (this.overflowed) return null;
    // Only the first `limit` bytes can hold this line's LF (nginx reads no further).
    const lf = this.buffer.indexOf("\n");
    if (lf < 0 || lf >= this.limit) {
      if (this.buffer.length >= this.limit) {
        this.overflowed = true;
        return { type: "too-long" };
      }
      return null;
    }
    const raw = this.buffer.slice(0, lf);
    this.buffer = this.buffer.slice(lf + 1);
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    return { type: "line", text, bareCr: text.includes("\r") };
  }

  /** Remove and return everything buffered but not yet handed out as a line. */
  takeRest(): string {
    const rest = this.buffer;
    this.buffer = "";
    return rest;
  }

  /** Drop buffered bytes (after STARTTLS/STLS: plaintext sent behind the command must not count). */
  clear(): void {
    this.buffer = "";
  }
}
