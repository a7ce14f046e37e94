/**
 * Well-behaved and hostile clients for the robustness tests: a login that must
 * succeed, a loop of such logins running beside an attack, and many sockets
 * opened at once.
 */
import assert from "node:assert/strict";
import { WireClient } from "./wire.ts";

export const LOGGED_IN = "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in";

/** An IMAP login through the proxy to the demo backend, then LOGOUT; throws on any unexpected line. */
export async function imapLogin(port: number, user = "alice", pass = "secret"): Promise<void> {
  const c = await WireClient.connect(port);
  try {
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send(`a1 LOGIN ${user} ${pass}\r\n`);
    assert.equal(await c.line(), LOGGED_IN);
    c.send("a2 LOGOUT\r\n");
    assert.equal(await c.line(), "* BYE demo logging out");
  } finally {
    c.close();
  }
}

/** Logins one after another until stopped: what a legitimate user sees during an attack. */
export class LoginLoop {
  ok = 0;
  readonly failures: string[] = [];
  private running = true;
  private readonly done: Promise<void>;

  constructor(port: number, pauseMs = 50) {
    this.done = (async () => {
      while (this.running) {
        try {
          await imapLogin(port);
          this.ok++;
        } catch (err) {
          this.failures.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  }

  /** Stop after the login in progress; resolves with the counts. */
  async stop(): Promise<{ ok: number; failures: string[] }> {
    this.running = false;
    await this.done;
    return { ok: this.ok, failures: this.failures };
  }
}

/** Open `count` connections, `batch` at a time. */
export async function connectMany(port: number, count: number, batch = 200): Promise<WireClient[]> {
  const clients: WireClient[] = [];
  for (let i = 0; i < count; i += batch) {
    const n = Math.min(batch, count - i);
    clients.push(...(await Promise.all(Array.from({ length: n }, () => WireClient.connect(port)))));
  }
  return clients;
}

/** How many times `pattern` occurs in `text`. */
export function occurrences(text: string, pattern: string): number {
  let n = 0;
  for (let i = text.indexOf(pattern); i >= 0; i = text.indexOf(pattern, i + pattern.length)) n++;
  return n;
}
