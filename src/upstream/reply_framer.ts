/**
 * Frames backend replies during the login dialogue (protocols.md §6.2): a reply is
 * complete when at least 4 bytes are buffered and they end in CRLF; for SMTP a
 * multi-line reply must also end with a final line (4th character not `-`).
 */
import type { Protocol } from "../config/model.ts";

type FramedReply =
  | { type: "reply"; text: string }
  | { type: "incomplete" }
  | { type: "too-long" };

export class ReplyFramer {
  private buffered = "";

  constructor(private readonly protocol: Protocol, private readonly limit: number) {}

  /** Add backend bytes (binary string) and return a complete reply if there is one. */
  push(bytes: string): FramedReply {
    this.buffered += bytes;
    if (this.isComplete()) {
      const text = this.buffered;
      this.buffered = "";
      return { type: "reply", text };
    }
    return this.buffered.length >= this.limit ? { type: "too-long" } : { type: "incomplete" };
  }

  private isComplete(): boolean {
    const b = this.buffered;
    if (b.length < 4 || !b.endsWith("\r\n")) return false;
    if (this.protocol !== "smtp") return true;
    const lastStart = b.lastIndexOf("\n", b.length - 3) + 1;
    return b.length - lastStart >= 4 && b[lastStart + 3] !== "-";
  }
}
