/**
 * `sticky_store redis://...`: the user → backend map a fleet of mailproxy instances
 * shares. The first instance to place a user wins (SET NX); the others read its
 * choice. Keys are `mailproxy:sticky:POOL:LOGIN` and expire `ttl` after their last use.
 * Every failure is a value: the router then falls back to the hash ring.
 */
import { RespClient, RespError } from "../auth/redis.ts";
import type { StickyStoreSpec } from "../config/model.ts";

const TIMEOUT_MS = 500;

type StoreAnswer = { type: "ok"; id: string } | { type: "unreachable"; reason: string };

export class StickyStore {
  private readonly client: RespClient;

  constructor(readonly spec: StickyStoreSpec) {
    this.client = new RespClient({ host: spec.host, port: spec.port, timeoutMs: TIMEOUT_MS });
  }

  private key(pool: string, user: string): string {
    return `mailproxy:sticky:${pool}:${user}`;
  }

  /** The stored backend of the user, else `candidate` stored as theirs; the ttl starts over. */
  claim(pool: string, user: string, candidate: string): Promise<StoreAnswer> {
    const key = this.key(pool, user);
    const ttl = String(this.spec.ttl);
    return this.run([["SET", key, candidate, "NX", "PX", ttl], ["GET", key], ["PEXPIRE", key, ttl]], 1, candidate);
  }

  /** Overwrite the user's backend (it was down, or an operator moved the user). */
  put(pool: string, user: string, id: string): Promise<StoreAnswer> {
    return this.run([["SET", this.key(pool, user), id, "PX", String(this.spec.ttl)]], -1, id);
  }

  /** The user's last session here ended: the assignment lives `ttl` from now. */
  touch(pool: string, user: string): Promise<StoreAnswer> {
    return this.run([["PEXPIRE", this.key(pool, user), String(this.spec.ttl)]], -1, "");
  }

  close(): void {
    this.client.close();
  }

  /** Runs the commands (after SELECT db); the string reply at `index` is the answer, else `fixed`. */
  private async run(commands: string[][], index: number, fixed = ""): Promise<StoreAnswer> {
    const all = this.spec.db === 0 ? commands : [["SELECT", String(this.spec.db)], ...commands];
    const offset = all.length - commands.length;
    try {
      const replies = await this.client.pipeline(all);
      const failed = replies.find((r) => r instanceof RespError);
      if (failed) return { type: "unreachable", reason: (failed as RespError).message };
      const value = index < 0 ? undefined : replies[offset + index];
      return { type: "ok", id: typeof value === "string" ? value : fixed };
    } catch (err) {
      return { type: "unreachable", reason: (err as Error).message };
    }
  }
}
