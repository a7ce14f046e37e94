/**
 * Skips the body of a pooled auth_http response (beyond nginx) so that the
 * connection can carry the next request. The body itself is never used.
 * Pure: fed bytes, answers whether the body is complete.
 */
import type { BodyFraming } from "./response.ts";

/** A body bigger than this is not worth draining: the connection is dropped instead. */
const MAX_DRAINED_BODY = 64 * 1024;

type DrainState =
  | "more"
  /** The body ended exactly at the end of the bytes fed so far. */
  | "done"
  /** Bytes after the body, a malformed chunk, or too big: do not reuse the connection. */
  | "unusable";

type ChunkState = "size" | "ext" | "size-lf" | "data" | "data-cr" | "data-lf" | "trailer-start" | "trailer" | "trailer-lf" | "end-lf";

export class BodyDrain {
  private remaining = 0;
  private total = 0;
  private chunkState: ChunkState = "size";
  private sizeDigits = 0;
  private state: DrainState;

  constructor(private readonly framing: BodyFraming) {
    if (framing.kind === "length") {
      this.remaining = framing.length;
      this.state = framing.length > MAX_DRAINED_BODY ? "unusable" : framing.length === 0 ? "done" : "more";
    } else {
      this.state = framing.kind === "chunked" ? "more" : "unusable";
    }
  }

  /** Current state without feeding anything (a zero-length body is done at once). */
  get current(): DrainState {
    return this.state;
  }

  feed(chunk: string): DrainState {
    if (chunk.length === 0) return this.state;
    // Anything after a finished body would be a reply to nothing: not reusable.
    if (this.state !== "more") {
      this.state = "unusable";
      return this.state;
    }
    this.total += chunk.length;
    if (this.total > MAX_DRAINED_BODY + 1024) {
      this.state = "unusable";
      return this.state;
    }
    this.state = this.framing.kind === "length" ? this.feedLength(chunk) : this.feedChunked(chunk);
    return this.state;
  }

  private feedLength(chunk: string): DrainState {
    if (chunk.length > this.remaining) return "unusable";
    this.remaining -= chunk.length;
    return this.remaining === 0 ? "done" : "more";
  }

  private feedChunked(chunk: string): DrainState {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      switch (this.chunkState) {
        case "size": {
          const digit = hexValue(c);
          if (digit >= 0) {
            if (++this.sizeDigits > 8) return "unusable";
            this.remaining = this.remaining * 16 + digit;
            break;
          }
          if (this.sizeDigits === 0) return "unusable";
          if (c === 0x3b || c === 0x20 || c === 0x09) this.chunkState = "ext";
          else if (c === 13) this.chunkState = "size-lf";
          else if (c === 10) {
            if (!this.endOfSize()) return "unusable";
          }
          else return "unusable";
          break;
        }
        case "ext":
          if (c === 13) this.chunkState = "size-lf";
          else if (c === 10) {
            if (!this.endOfSize()) return "unusable";
          }
          break;
        case "size-lf":
          if (c !== 10 || !this.endOfSize()) return "unusable";
          break;
        case "data": {
          const take = Math.min(this.remaining, chunk.length - i);
          this.remaining -= take;
          i += take - 1;
          if (this.remaining === 0) this.chunkState = "data-cr";
          break;
        }
        case "data-cr":
          if (c === 13) this.chunkState = "data-lf";
          else if (c === 10) this.chunkState = "size";
          else return "unusable";
          break;
        case "data-lf":
          if (c !== 10) return "unusable";
          this.chunkState = "size";
          break;
        case "trailer-start":
          if (c === 13) this.chunkState = "end-lf";
          else if (c === 10) return i === chunk.length - 1 ? "done" : "unusable";
          else this.chunkState = "trailer";
          break;
        case "trailer":
          if (c === 13) this.chunkState = "trailer-lf";
          else if (c === 10) this.chunkState = "trailer-start";
          break;
        case "trailer-lf":
          if (c !== 10) return "unusable";
          this.chunkState = "trailer-start";
          break;
        case "end-lf":
          if (c !== 10) return "unusable";
          return i === chunk.length - 1 ? "done" : "unusable";
      }
    }
    return "more";
  }

  /** The chunk size line ended; false when the chunk is too big to drain. */
  private endOfSize(): boolean {
    this.sizeDigits = 0;
    if (this.remaining > MAX_DRAINED_BODY) return false;
    this.chunkState = this.remaining === 0 ? "trailer-start" : "data";
    return true;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}
