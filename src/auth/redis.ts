/**
 * A tiny RESP2 client over node:net, just enough for the shared login limits and
 * the pools' sticky store: commands are arrays of bulk strings, replies are read in
 * order, several commands go out in one write (pipelined); and one subscriber to a
 * channel. No dependency, no cluster. It never throws: every failure is a rejected
 * promise (or a `failed` call) the caller turns into "fail open".
 */
import net from "node:net";
import { setTimeout } from "node:timers";
import { noDelay } from "../runtime.ts";

export type RespValue = string | number | null | RespValue[] | RespError;

/** A `-ERR ...` reply. */
export class RespError extends Error {}

/** Encode one command. Arguments are binary strings (one char = one byte). */
export function encodeCommand(args: readonly string[]): string {
  let out = `*${args.length}\r\n`;
  for (const arg of args) out += `$${arg.length}\r\n${arg}\r\n`;
  return out;
}

/**
 * Incremental reply parser: feed bytes, take whole replies. Split-safe.
 * @example const p = new RespParser(); p.feed(":1\r\n$-1\r\n"); p.take() // [1, null]
 */
export class RespParser {
  private buf = "";

  feed(bytes: string): void {
    this.buf += bytes;
  }

  /** Every complete reply buffered so far, in order. Throws on a protocol violation. */
  take(): RespValue[] {
    const out: RespValue[] = [];
    for (;;) {
      const parsed = this.parse(0);
      if (!parsed) return out;
      out.push(parsed.value);
      this.buf = this.buf.slice(parsed.end);
    }
  }

  private parse(at: number): { value: RespValue; end: number } | null {
    const eol = this.buf.indexOf("\r\n", at);
    if (eol < 0) return null;
    const type = this.buf[at];
    const line = this.buf.slice(at + 1, eol);
    const next = eol + 2;
    switch (type) {
      case "+":
        return { value: line, end: next };
      case "-":
        return { value: new RespError(line), end: next };
      case ":":
        return { value: Number(line), end: next };
      case "$": {
        const length = Number(line);
        if (length < 0) return { value: null, end: next };
        if (this.buf.length < next + length + 2) return null;
        return { value: this.buf.slice(next, next + length), end: next + length + 2 };
      }
      case "*": {
        const count = Number(line);
        if (count < 0) return { value: null, end: next };
        const items: RespValue[] = [];
        let end = next;
        for (let i = 0; i < count; i++) {
          const item = this.parse(end);
          if (!item) return null;
          items.push(item.value);
          end = item.end;
        }
        return { value: items, end };
      }
      default:
        throw new Error(`unexpected reply type ${JSON.stringify(type)}`);
    }
  }
}

interface Pending {
  resolve(value: RespValue): void;
  reject(err: Error): void;
}

/**
 * One lazily opened connection; a broken one is dropped and the next call opens
 * a new one. Every call is bounded by `timeoutMs`.
 * @example const r = new RespClient({ host: "127.0.0.1", port: 6379, timeoutMs: 500 });
 *          await r.pipeline([["INCR", "k"], ["PTTL", "k"]]) // [1, -1]
 */
export class RespClient {
  private socket: net.Socket | null = null;
  private parser = new RespParser();
  private pending: Pending[] = [];
  private closed = false;

  constructor(private readonly opts: { host: string; port: number; timeoutMs: number }) {}

  /** Send the commands in one write; resolves with their replies in order (a RespError per failed one). */
  pipeline(commands: readonly string[][]): Promise<RespValue[]> {
    if (this.closed) return Promise.reject(new Error("client closed"));
    const socket = this.connection();
    const replies = commands.map(() =>
      new Promise<RespValue>((resolve, reject) => {
        this.pending.push({ resolve, reject });
      })
    );
    socket.write(Buffer.from(commands.map(encodeCommand).join(""), "latin1"));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // The replies would arrive out of step with later calls: start over on a new connection.
        this.drop(socket, new Error(`timed out after ${this.opts.timeoutMs}ms`));
        reject(new Error(`timed out after ${this.opts.timeoutMs}ms`));
      }, this.opts.timeoutMs);
      timer.unref?.();
    });
    return Promise.race([Promise.all(replies), deadline]).finally(() => clearTimeout(timer));
  }

  close(): void {
    this.closed = true;
    if (this.socket) this.drop(this.socket, new Error("client closed"));
  }

  private connection(): net.Socket {
    if (this.socket && !this.socket.destroyed) return this.socket;
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    noDelay(socket);
    // A limits store must never keep the process alive.
    socket.unref();
    this.parser = new RespParser();
    socket.on("data", (chunk: Buffer) => {
      this.parser.feed(chunk.toString("latin1"));
      let replies: RespValue[];
      try {
        replies = this.parser.take();
      } catch (err) {
        this.drop(socket, err as Error);
        return;
      }
      for (const reply of replies) this.pending.shift()?.resolve(reply);
    });
    socket.on("error", (err) => this.drop(socket, err));
    socket.on("close", () => this.drop(socket, new Error("connection closed")));
    this.socket = socket;
    return socket;
  }

  private drop(socket: net.Socket, err: Error): void {
    if (this.socket !== socket) return;
    this.socket = null;
    socket.destroy();
    for (const p of this.pending.splice(0)) p.reject(err);
  }
}

/** What a subscriber reports: each message, and its connection's state. */
export interface SubscriberEvents {
  message(payload: string): void;
  /** Subscribed (again). */
  subscribed(): void;
  /** The connection failed or dropped; a new one is tried after the retry delay. */
  failed(reason: string): void;
}

/**
 * One connection in subscribe mode on one channel, opened at once and again
 * `retryMs` after every drop until closed.
 * @example new RespSubscriber({ host: "127.0.0.1", port: 6379, retryMs: 1000 }, "news", events)
 */
export class RespSubscriber {
  private socket: net.Socket | null = null;
  private timer?: ReturnType<typeof setTimeout>;
  private closed = false;

  constructor(
    private readonly opts: { host: string; port: number; retryMs: number },
    private readonly channel: string,
    private readonly events: SubscriberEvents,
  ) {
    this.connect();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.destroy();
    this.socket = null;
  }

  private connect(): void {
    const socket = net.connect({ host: this.opts.host, port: this.opts.port });
    noDelay(socket);
    socket.unref();
    const parser = new RespParser();
    socket.write(Buffer.from(encodeCommand(["SUBSCRIBE", this.channel]), "latin1"));
    socket.on("data", (chunk: Buffer) => {
      parser.feed(chunk.toString("latin1"));
      let replies: RespValue[];
      try {
        replies = parser.take();
      } catch (err) {
        this.drop(socket, (err as Error).message);
        return;
      }
      for (const reply of replies) {
        if (reply instanceof RespError) return this.drop(socket, reply.message);
        if (Array.isArray(reply) && reply[0] === "message" && typeof reply[2] === "string") this.events.message(reply[2]);
        else if (Array.isArray(reply) && reply[0] === "subscribe") this.events.subscribed();
      }
    });
    socket.on("error", (err) => this.drop(socket, err.message));
    socket.on("close", () => this.drop(socket, "connection closed"));
    this.socket = socket;
  }

  private drop(socket: net.Socket, reason: string): void {
    if (this.socket !== socket) return;
    this.socket = null;
    socket.destroy();
    this.events.failed(reason);
    this.timer = setTimeout(() => this.connect(), this.opts.retryMs);
    this.timer.unref?.();
  }
}
