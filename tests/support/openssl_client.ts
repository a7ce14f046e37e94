/**
 * `openssl s_client` as a scripted TLS client: the same client on both runtimes, with
 * exact control over versions, signature algorithms, groups, ALPN, client
 * certificates and saved sessions. Output (handshake report and application data) is
 * collected as one text to wait on.
 */
import { spawn } from "node:child_process";

export class OpensslClient {
  private out = "";
  private waiters: Array<() => void> = [];
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ReturnType<typeof spawn>) {
    const take = (d: Buffer) => {
      this.out += d.toString("latin1");
      for (const w of this.waiters.splice(0)) w();
    };
    child.stdout?.on("data", take);
    child.stderr?.on("data", take);
    child.stdin?.on("error", () => {});
    this.exited = new Promise((resolve) => child.once("close", (code) => {
      for (const w of this.waiters.splice(0)) w();
      resolve(code);
    }));
  }

  /** `openssl s_client -connect 127.0.0.1:PORT -ign_eof ARGS...`. */
  static start(port: number, args: string[] = []): OpensslClient {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, "-ign_eof", ...args], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    return new OpensslClient(child);
  }

  /** Everything printed so far. */
  get output(): string {
    return this.out;
  }

  /** Resolves with the first match of `re` in the output (searching from the start). */
  async waitFor(re: RegExp, timeoutMs = 15_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    this.exited.then(() => (exited = true));
    for (;;) {
      const m = this.out.match(re);
      if (m) return m;
      const left = deadline - Date.now();
      if (exited || left <= 0) {
        throw new Error(`s_client ${exited ? "exited" : "timed out"} before ${re}; output:\n${this.out}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The application data lines after the handshake report (s_client prints them after "---"). */
  send(text: string): void {
    this.child.stdin?.write(text);
  }

  close(): Promise<number | null> {
    this.child.kill("SIGTERM");
    return this.exited;
  }
}

/** Run s_client to completion with `input` on stdin (no -ign_eof: it quits at EOF). */
export function opensslOnce(port: number, args: string[], input = ""): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn("openssl", ["s_client", "-connect", `127.0.0.1:${port}`, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output += d.toString("latin1")));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString("latin1")));
    child.stdin?.on("error", () => {});
    const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
    // Give the server time to answer before EOF ends the session.
    setTimeout(() => child.stdin?.end(input), 300);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}
