/**
 * `sticky_store redis://...`: the user → backend map a fleet of mailproxy instances
 * shares. The first instance to place a user wins (SET NX); the others read its
 * choice. Keys are `mailproxy:sticky:POOL:LOGIN` and expire `ttl` after their last use.
 * A move is also published on `mailproxy:moves:DB:POOL`, which every instance
 * watches, so that each closes its own sessions of the moved user.
 * Every failure is a value: the router then falls back to the hash ring.
 */
import { RespClient, RespError, RespSubscriber, type SubscriberEvents } from "../auth/redis.ts";
import type { StickyStoreSpec } from "../config/model.ts";

const TIMEOUT_MS = 500;
/** A dropped subscription is tried again after this long. */
const RESUBSCRIBE_MS = 1000;

type StoreAnswer = { type: "ok"; id: string } | { type: "unreachable"; reason: string };

/** A move as published to the fleet; `origin` is the instance that made it. */
export interface PublishedMove {
  user: string;
  to: string;
  origin: string;
}

export class StickyStore {
  private readonly client: RespClient;
  private subscriber?: RespSubscriber;

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

  private channel(pool: string): string {
    return `mailproxy:moves:${this.spec.db}:${pool}`;
  }

  /** Overwrite the user's backend (it was down here). */
  put(pool: string, user: string, id: string): Promise<StoreAnswer> {
    return this.run([["SET", this.key(pool, user), id, "PX", String(this.spec.ttl)]], -1, id);
  }

  /** An operator moved the user: stored, and published to the fleet. */
  move(pool: string, move: PublishedMove): Promise<StoreAnswer> {
    return this.run([
      ["SET", this.key(pool, move.user), move.to, "PX", String(this.spec.ttl)],
      ["PUBLISH", this.channel(pool), JSON.stringify(move)],
    ], -1, move.to);
  }

  /** Hear the fleet's moves in `pool` (one subscription per store, kept until close). */
  watch(pool: string, events: { moved(move: PublishedMove): void } & Omit<SubscriberEvents, "message">): void {
    this.subscriber?.close();
    this.subscriber = new RespSubscriber({ host: this.spec.host, port: this.spec.port, retryMs: RESUBSCRIBE_MS }, this.channel(pool), {
      message: (payload) => {
        try {
          const move = JSON.parse(payload) as PublishedMove;
          if (typeof move.user === "string" && typeof move.to === "string") events.moved(move);
        } catch {
          // not ours: ignore
        }
      },
      subscribed: events.subscribed,
      failed: events.failed,
    });
  }

  /** The user's last session here ended: the assignment lives `ttl` from now. */
  touch(pool: string, user: string): Promise<StoreAnswer> {
    return this.run([["PEXPIRE", this.key(pool, user), String(this.spec.ttl)]], -1, "");
  }

  close(): void {
    this.client.close();
    this.subscriber?.close();
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
