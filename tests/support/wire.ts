/**
 * A line-oriented test client over a real socket: send bytes, read CRLF lines,
 * see when the server closes.
 */
import net from "node:net";
import tls from "node:tls";

export class WireClient {
  private buffer = "";
  private waiters: Array<() => void> = [];
  ended = false;
  readonly closed: Promise<void>;

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      this.wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((resolve) =>
      socket.on("close", () => {
        this.ended = true;
        this.wake();
        resolve();
      })
    );
  }

  static connect(port: number, host = "127.0.0.1"): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host, () => resolve(new WireClient(socket)));
      socket.once("error", reject);
    });
  }

  static connectTls(port: number, options: tls.ConnectionOptions = {}): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: "127.0.0.1", rejectUnauthorized: false, ...options }, () =>
        resolve(new WireClient(socket)));
      socket.once("error", reject);
    });
  }

  /** Continue on TLS over the same connection (after STARTTLS). */
  async startTls(options: tls.ConnectionOptions = {}): Promise<WireClient> {
    this.socket.removeAllListeners("data");
    return await new Promise((resolve, reject) => {
      const secure = tls.connect({ socket: this.socket, rejectUnauthorized: false, ...options }, () =>
        resolve(new WireClient(secure)));
      secure.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async waitFor<T>(take: () => T | undefined, what: string, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = take();
      if (value !== undefined) return value;
      if (this.ended) throw new Error(`connection closed while waiting for ${what}; buffered: ${JSON.stringify(this.buffer)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; buffered: ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  send(data: string | Buffer): void {
    this.socket.write(typeof data === "string" ? Buffer.from(data, "latin1") : data);
  }

  /** One line without its CRLF. */
  line(timeoutMs = 10_000): Promise<string> {
    return this.waitFor(() => {
      const i = this.buffer.indexOf("\r\n");
      if (i < 0) return undefined;
      const l = this.buffer.slice(0, i);
      this.buffer = this.buffer.slice(i + 2);
      return l;
    }, "a line", timeoutMs);
  }

  async lines(n: number, timeoutMs = 10_000): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.line(timeoutMs));
    return out;
  }

  /** Exactly n raw bytes. */
  bytes(n: number, timeoutMs = 30_000): Promise<string> {
    return this.waitFor(() => {
      if (this.buffer.length < n) return undefined;
      const b = this.buffer.slice(0, n);
      this.buffer = this.buffer.slice(n);
      return b;
    }, `${n} bytes`, timeoutMs);
  }

  /** Everything until the server closes; what is left in the buffer. */
  async rest(timeoutMs = 10_000): Promise<string> {
    await this.waitFor(() => (this.ended ? true : undefined), "close", timeoutMs).catch((e) => {
      if (!this.ended) throw e;
    });
    const b = this.buffer;
    this.buffer = "";
    return b;
  }

  close(): void {
    this.socket.destroy();
  }
}
