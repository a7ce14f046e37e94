/**
 * Login abuse protection (beyond nginx, docs/auth.md "Login abuse protection").
 *
 * `limit_login`: failed logins are counted per client IP and per user in a fixed
 * window; once either count reaches its limit, further logins from that IP (or for
 * that user) are refused with the protocol's temporary failure after `delay`, and
 * the auth source is not asked. The counters live in memory, or in Redis/Valkey
 * (`limit_store`) so that every instance of a fleet sees the same counts. A store
 * that cannot be reached fails open: the login goes ahead, an error is logged.
 *
 * `limit_conn`: simultaneous connections per client IP, per instance.
 */
import { createHash } from "node:crypto";
import type { EffectiveServer, LimitLoginSpec } from "../config/model.ts";
import { protocolLines } from "../protocols/factory.ts";
import { limitStoreAddress } from "../config/values/limits.ts";
import type { Logger } from "../log/logger.ts";
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";
import { RespClient, RespError, type RespValue } from "./redis.ts";

/** Where the failure counters live. */
export interface LimitStore {
  /** Current counts of `keys` (0 when absent or expired). */
  counts(keys: string[]): Promise<number[]>;
  /** Count one more failure under each key; a new key lives `windowMs`. */
  add(keys: string[], windowMs: number): Promise<void>;
  /** For log lines: `memory` or the redis URL. */
  readonly name: string;
  close(): void;
}

/** Counters in this process. Expired entries are dropped as they are met and on a periodic sweep. */
export class MemoryLimitStore implements LimitStore {
  readonly name = "memory";
  private readonly entries = new Map<string, { count: number; expires: number }>();
  private writes = 0;

  constructor(private readonly now: () => number = Date.now) {}

  counts(keys: string[]): Promise<number[]> {
    return Promise.resolve(keys.map((key) => this.live(key)?.count ?? 0));
  }

  add(keys: string[], windowMs: number): Promise<void> {
    for (const key of keys) {
      const entry = this.live(key);
      if (entry) entry.count++;
      else this.entries.set(key, { count: 1, expires: this.now() + windowMs });
    }
    if (++this.writes % 1024 === 0) this.sweep();
    return Promise.resolve();
  }

  close(): void {
    this.entries.clear();
  }

  private live(key: string): { count: number; expires: number } | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private sweep(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) if (entry.expires <= now) this.entries.delete(key);
  }
}

/**
 * Counters in Redis/Valkey: GET to read; INCR then PTTL to count, and PEXPIRE when
 * the key has no lifetime yet (the first failure of a window). Pipelined.
 */
class RedisLimitStore implements LimitStore {
  private readonly client: RespClient;

  constructor(readonly name: string, address: { host: string; port: number }, timeoutMs = 1000) {
    this.client = new RespClient({ ...address, timeoutMs });
  }

  async counts(keys: string[]): Promise<number[]> {
    const replies = await this.client.pipeline(keys.map((key) => ["GET", key]));
    return replies.map((reply) => {
      if (reply instanceof RespError) throw reply;
      return reply === null ? 0 : Number(reply) || 0;
    });
  }

  async add(keys: string[], windowMs: number): Promise<void> {
    const replies = await this.client.pipeline(keys.flatMap((key) => [["INCR", key], ["PTTL", key]]));
    const unexpiring: string[] = [];
    keys.forEach((key, i) => {
      const ttl = replies[2 * i + 1];
      for (const reply of [replies[2 * i], ttl]) if (reply instanceof RespError) throw reply;
      if (typeof ttl === "number" && ttl < 0) unexpiring.push(key);
    });
    if (unexpiring.length === 0) return;
    const set: RespValue[] = await this.client.pipeline(unexpiring.map((key) => ["PEXPIRE", key, String(windowMs)]));
    for (const reply of set) if (reply instanceof RespError) throw reply;
  }

  close(): void {
    this.client.close();
  }
}

/**
 * Counter keys of a zone. User names are compared case-insensitively (ASCII) and
 * stored hashed, so the store never holds a user name and any bytes fit in a key.
 */
export function limitKeys(zone: string, clientIp: string, user: string): { ip: string; user?: string } {
  const prefix = `mailproxy:limit_login:${zone}`;
  if (user === "") return { ip: `${prefix}:ip:${clientIp}` };
  const digest = createHash("sha256").update(Buffer.from(user.toLowerCase(), "latin1")).digest("hex").slice(0, 32);
  return { ip: `${prefix}:ip:${clientIp}`, user: `${prefix}:user:${digest}` };
}

interface LoginLimitOptions {
  spec: LimitLoginSpec;
  store: LimitStore;
  logger?: Logger;
}

/**
 * An auth source that applies `limit_login` in front of another one.
 * @example new LoginLimitedAuth(createAuthSource(server, logger), { spec, store, logger })
 */
export class LoginLimitedAuth implements AuthSource {
  /** The last store failure was logged; reset once the store answers again. */
  private storeDown = false;

  constructor(private readonly inner: AuthSource, private readonly opts: LoginLimitOptions) {}

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const keys = this.keys(request);
    const over = await this.overLimit(keys, request);
    if (over) {
      const { text, errorCode } = protocolLines(request.protocol).tooManyFailures;
      // The delay is the answer's own wait; a zero delay answers at once and closes, like Auth-Wait 0.
      const result: AuthResult = { type: "error", text, wait: this.opts.spec.delay / 1000 };
      if (errorCode) result.errorCode = errorCode;
      return result;
    }
    const result = await this.inner.authenticate(request);
    if (result.type === "error") await this.count(keys, request);
    return result;
  }

  /** Passthrough: the backend refused the credentials, a failure like any other. */
  async backendRefused(request: AuthRequest): Promise<void> {
    await this.count(this.keys(request), request);
    await this.inner.backendRefused?.(request);
  }

  close(): void {
    this.inner.close();
  }

  private keys(request: AuthRequest): string[] {
    const keys = limitKeys(this.opts.spec.zone, request.clientIp, request.credentials.user);
    const out: string[] = [];
    if (this.opts.spec.per_ip !== undefined) out.push(keys.ip);
    if (this.opts.spec.per_user !== undefined && keys.user) out.push(keys.user);
    return out;
  }

  private async overLimit(keys: string[], request: AuthRequest): Promise<boolean> {
    if (keys.length === 0) return false;
    const counts = await this.storeCall(() => this.opts.store.counts(keys), request);
    if (!counts) return false;
    const { spec } = this.opts;
    const ipKey = limitKeys(spec.zone, request.clientIp, "").ip;
    for (let i = 0; i < keys.length; i++) {
      const isIp = keys[i] === ipKey;
      const limit = isIp ? spec.per_ip! : spec.per_user!;
      if (counts[i]! >= limit) {
        this.opts.logger?.warn(
          `login limit of zone "${spec.zone}" reached (${counts[i]} failures per ${isIp ? "client IP" : "user"}), auth not asked`,
          request.log,
        );
        return true;
      }
    }
    return false;
  }

  private async count(keys: string[], request: AuthRequest): Promise<void> {
    if (keys.length === 0) return;
    await this.storeCall(() => this.opts.store.add(keys, this.opts.spec.window), request);
  }

  /** Fail open: a store error lets the login go ahead; logged once per outage. */
  private async storeCall<T>(call: () => Promise<T>, request: AuthRequest): Promise<T | null> {
    try {
      const value = await call();
      if (this.storeDown) {
        this.storeDown = false;
        this.opts.logger?.notice(`limit_store ${this.opts.store.name} is answering again, login limits enforced`, request.log);
      }
      return value;
    } catch (err) {
      if (!this.storeDown) {
        this.storeDown = true;
        this.opts.logger?.error(
          `limit_store ${this.opts.store.name} failed (${(err as Error).message}), login limits not enforced`,
          request.log,
        );
      }
      return null;
    }
  }
}

/**
 * `limit_conn per_ip=N`: counts open connections per client IP for one mailproxy
 * instance (all its servers together; each server applies its own N).
 */
export class ConnectionCounter {
  private readonly open = new Map<string, number>();

  /** Count a connection, or return null (and count nothing) when `ip` already has `limit`. */
  acquire(ip: string, limit: number): (() => void) | null {
    const current = this.open.get(ip) ?? 0;
    if (current >= limit) return null;
    this.open.set(ip, current + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.open.get(ip) ?? 1) - 1;
      if (n <= 0) this.open.delete(ip);
      else this.open.set(ip, n);
    };
  }

  /** Open connections of `ip` (for tests and status). */
  count(ip: string): number {
    return this.open.get(ip) ?? 0;
  }
}

/**
 * The stores of one mailproxy instance: one in-memory store, one client per
 * `limit_store` URL. Kept across reloads, so counts survive a SIGHUP.
 */
export class LimitStores {
  private readonly memory = new MemoryLimitStore();
  private readonly redis = new Map<string, RedisLimitStore>();

  get(url: string | undefined): LimitStore {
    if (url === undefined) return this.memory;
    let store = this.redis.get(url);
    if (!store) {
      store = new RedisLimitStore(url, limitStoreAddress(url));
      this.redis.set(url, store);
    }
    return store;
  }

  /** `inner` with the server's `limit_login` in front of it, or `inner` itself without one. */
  guard(server: Pick<EffectiveServer, "limit_login" | "limit_store">, inner: AuthSource, logger?: Logger): AuthSource {
    if (!server.limit_login) return inner;
    return new LoginLimitedAuth(inner, { spec: server.limit_login, store: this.get(server.limit_store), logger });
  }

  close(): void {
    this.memory.close();
    for (const store of this.redis.values()) store.close();
    this.redis.clear();
  }
}
