/**
 * Every `upstream` pool of this process, kept across reloads (a HUP updates them, so
 * sessions and assignments survive): where a login goes (with the fleet's sticky
 * store when set), what became of it (from the session observer), and what the
 * operator sees and does through status_listen.
 */
import type { StickyStoreSpec, UpstreamBlock } from "../config/model.ts";
import type { Logger, SessionContext } from "../log/logger.ts";
import { PassthroughAuth } from "../auth/passthrough.ts";
import { type BackendStatus, type PlacementFacts, Pool } from "./pool.ts";
import { type PublishedMove, StickyStore } from "./sticky_store.ts";
import { randomUUID } from "node:crypto";
import { HealthChecks } from "./health_checks.ts";

export interface PoolStatus {
  name: string;
  sticky_store?: { url: string; reachable: boolean };
  servers: BackendStatus[];
}

interface LiveSession {
  pool: Pool;
  user: string;
  id: string;
}

/** A session as the pools know it: its login and backend; its identity is the object's. */
export type PoolSession = Pick<SessionContext, "login" | "upstream">;

/** Closes the user's sessions on these backends with the protocol's goodbye; how many it closed. */
export type KickSessions = (login: string, backends: readonly string[]) => number;

/** What the pools tell the sessions of this process (or, in a master, its workers). */
export interface PoolHooks {
  /** A move: the user's sessions on these backends close (called at every move, even with none there). */
  kick?: KickSessions;
  /** A backend stopped taking users (drained, or down by health): who was placed there is placed anew. */
  out?: (backend: string) => void;
}

/**
 * What the sessions of a process need of the pools: the process's own `Pools`, or in a
 * worker the link to its master's (the one placement authority of the host, server/process/pools_link.ts).
 */
export interface PoolPlacement {
  has(name: string): boolean;
  place(name: string, facts: PlacementFacts): Promise<{ host: string; port: number } | undefined>;
  loginReported(session: PoolSession, ok: boolean, refused: boolean): void;
  sessionClosed(session: PoolSession): void;
  apply(upstreams: readonly UpstreamBlock[]): void;
  close(): void;
}

export class Pools implements PoolPlacement {
  private readonly pools = new Map<string, Pool>();
  private readonly stores = new Map<string, StickyStore>();
  /** Stores whose last call failed: logged once until they answer again. */
  private readonly unreachable = new Set<StickyStore>();
  /** Sessions logged in to a pool's backend, by their log context (one object per session). */
  private readonly live = new Map<PoolSession, LiveSession>();
  /** Sessions that ended before their backend login was reported. */
  private readonly ended = new WeakSet<PoolSession>();
  private readonly checks: HealthChecks;
  /** Who made a move, in what the fleet hears of it: this instance's own are already done. */
  private readonly instance = randomUUID();

  constructor(
    private readonly logger: Logger,
    private readonly hooks: PoolHooks = {},
    private readonly now: () => number = Date.now,
  ) {
    this.checks = new HealthChecks((pool, id, ok, reason) => this.probed(pool, id, ok, reason));
  }

  /** Apply the configuration's upstreams: kept pools are updated, new ones made, removed ones forgotten. */
  apply(upstreams: readonly UpstreamBlock[]): void {
    const names = new Set(upstreams.map((u) => u.name));
    for (const u of upstreams) {
      const pool = this.pools.get(u.name);
      if (pool) pool.update(u);
      else this.pools.set(u.name, new Pool(u));
      const store = this.stores.get(u.name);
      const url = u.settings.sticky_store;
      if (store && JSON.stringify(store.spec) !== JSON.stringify(url)) {
        store.close();
        this.stores.delete(u.name);
      }
      if (url && !this.stores.has(u.name)) this.stores.set(u.name, this.openStore(u.name, url));
    }
    for (const name of [...this.pools.keys()]) {
      if (!names.has(name)) {
        this.pools.delete(name);
        this.stores.get(name)?.close();
        this.stores.delete(name);
      }
    }
    this.checks.apply(upstreams.map((u) => ({ pool: this.pools.get(u.name)!, check: u.settings.health_check })));
  }

  has(name: string): boolean {
    return this.pools.has(name);
  }

  /**
   * The backend for this user's next session in pool `name`: where they are held,
   * else the fleet's choice (sticky_store), else this pool's balancing method; with
   * the store unreachable, the consistent ring on $login (the same in every instance).
   */
  async place(name: string, facts: PlacementFacts): Promise<{ host: string; port: number } | undefined> {
    const pool = this.pools.get(name);
    if (!pool) return undefined;
    const user = facts.login;
    let id = pool.assigned(user, this.now());
    const store = this.stores.get(name);
    if (id === undefined && store) {
      const candidate = pool.choose(facts, this.now());
      if (candidate === undefined) return undefined;
      const answer = await store.claim(name, user, candidate);
      if (this.reachable(store, answer.type === "ok" ? undefined : answer.reason) && answer.type === "ok") {
        id = answer.id;
        if (!pool.open(id, this.now())) {
          // The fleet's choice is down or drained here: place anew and tell the fleet.
          id = candidate;
          void store.put(name, user, id).then((a) => this.reachable(store, a.type === "ok" ? undefined : a.reason));
        }
      } else id = pool.choose(facts, this.now(), true);
    }
    id ??= pool.choose(facts, this.now());
    if (id === undefined) return undefined;
    pool.assign(user, id, this.now());
    return PassthroughAuth.parseTarget(id);
  }

  /** The session observer's backendLogin: a session started, or its backend failed it. */
  loginReported(session: PoolSession, ok: boolean, refused: boolean): void {
    const found = this.poolOf(session);
    if (!found) return;
    const { pool, user, id } = found;
    if (!ok) {
      // A refused login is an answer: the backend is alive.
      if (!refused && pool.loginFailed(id, this.now())) this.hooks.out?.(id);
      return;
    }
    if (this.ended.has(session)) return;
    pool.sessionStarted(user, id);
    this.live.set(session, found);
  }

  /** A session closed (whatever its phase). */
  sessionClosed(session: PoolSession): void {
    const found = this.live.get(session);
    if (!found) {
      if (session.upstream !== undefined) this.ended.add(session);
      return;
    }
    this.live.delete(session);
    found.pool.sessionEnded(found.user, found.id, this.now());
    this.lastSessionEnded(found.pool, found.user);
  }

  /** A worker's sessions of `login` on `upstream` since its last report (server/process/pools_host.ts). */
  sessionsCounted(login: string, upstream: string, started: number, ended: number): void {
    const found = this.poolOf({ login, upstream });
    if (!found) return;
    for (let i = 0; i < started; i++) found.pool.sessionStarted(login, upstream);
    for (let i = 0; i < ended; i++) found.pool.sessionEnded(login, upstream, this.now());
    if (ended > 0) this.lastSessionEnded(found.pool, login);
  }

  /** The fleet's store keeps the user's assignment `ttl` from their last session's end. */
  private lastSessionEnded(pool: Pool, user: string): void {
    const store = this.stores.get(pool.name);
    if (store && pool.sessionsOf(user).length === 0) {
      void store.touch(pool.name, user).then((a) => this.reachable(store, a.type === "ok" ? undefined : a.reason));
    }
  }

  /**
   * For a session a worker placed by itself: the backend its user is held to now, when
   * it is not the session's own. A user held nowhere any more (a `ttl` shorter than the
   * worker's memory of them) is held to the session's backend from now on.
   */
  heldElsewhere(session: PoolSession): string | undefined {
    const found = this.poolOf(session);
    if (!found) return undefined;
    const id = found.pool.assigned(found.user, this.now());
    if (id === undefined) found.pool.assign(found.user, found.id, this.now());
    return id !== undefined && id !== found.id ? id : undefined;
  }

  status(): PoolStatus[] {
    return [...this.pools.values()].map((pool) => {
      const store = this.stores.get(pool.name);
      return {
        name: pool.name,
        ...(store ? { sticky_store: { url: store.spec.url, reachable: !this.unreachable.has(store) } } : {}),
        servers: pool.status(this.now()),
      };
    });
  }

  /** POST /upstreams/NAME/SERVER/drain. */
  drain(name: string, server: string): boolean {
    const drained = this.pools.get(name)?.drain(server) ?? false;
    if (drained) this.hooks.out?.(server);
    return drained;
  }

  /**
   * POST /users/LOGIN/move?to=SERVER: the user is held to SERVER (in the pool that has
   * it) from now on, and their sessions on other backends are kicked; how many.
   */
  async move(user: string, to: string): Promise<{ pool: string; kicked: number } | undefined> {
    const pool = [...this.pools.values()].find((p) => p.has(to));
    if (!pool) return undefined;
    const from = pool.sessionsOf(user).filter((id) => id !== to);
    pool.assign(user, to, this.now());
    const store = this.stores.get(pool.name);
    if (store) {
      const answer = await store.move(pool.name, { user, to, origin: this.instance });
      this.reachable(store, answer.type === "ok" ? undefined : answer.reason);
    }
    return { pool: pool.name, kicked: this.kick(user, from) };
  }

  /** The pool's store, watching the fleet's moves. */
  private openStore(name: string, spec: StickyStoreSpec): StickyStore {
    const store = new StickyStore(spec);
    store.watch(name, {
      moved: (move) => this.movedElsewhere(name, move),
      subscribed: () => this.reachable(store, undefined),
      failed: (reason) => this.reachable(store, reason),
    });
    return store;
  }

  /** Another instance of the fleet moved a user: held to the new backend here too, and this instance's sessions elsewhere kicked. */
  private movedElsewhere(name: string, { user, to, origin }: PublishedMove): void {
    const pool = this.pools.get(name);
    if (origin === this.instance || !pool?.has(to)) return;
    const from = pool.sessionsOf(user).filter((id) => id !== to);
    pool.assign(user, to, this.now());
    const kicked = this.kick(user, from);
    this.logger.notice(`upstream "${name}": user "${user}" moved to ${to} by another instance, ${kicked} session(s) closed`);
  }

  private kick(user: string, backends: readonly string[]): number {
    return this.hooks.kick?.(user, backends) ?? 0;
  }

  close(): void {
    this.checks.close();
    for (const store of this.stores.values()) store.close();
  }

  /** Which pool placed this session: the one holding its user to its backend, else one that has the backend. */
  private poolOf(session: PoolSession): LiveSession | undefined {
    const { login, upstream } = session;
    if (login === undefined || upstream === undefined) return undefined;
    let first: Pool | undefined;
    let having = 0;
    for (const p of this.pools.values()) {
      if (!p.has(upstream)) continue;
      first ??= p;
      having++;
    }
    // a backend in one pool (the usual case, once per report) needs no look at the assignments
    const pool = having > 1 ? [...this.pools.values()].find((p) => p.has(upstream) && p.assigned(login, this.now()) === upstream) ?? first : first;
    return pool && { pool, user: login, id: upstream };
  }

  /** Logs a store going unreachable, and back, once each; true when it answered. */
  private reachable(store: StickyStore, failure: string | undefined): boolean {
    if (failure === undefined) {
      if (this.unreachable.delete(store)) this.logger.notice(`sticky_store ${store.spec.url} is reachable again`);
      return true;
    }
    if (!this.unreachable.has(store)) {
      this.unreachable.add(store);
      this.logger.warn(`sticky_store ${store.spec.url} is unreachable (${failure}), placing users by the hash ring`);
    }
    return false;
  }

  private probed(pool: Pool, id: string, ok: boolean, reason: string): void {
    if (!pool.probed(id, ok)) return;
    if (ok) this.logger.notice(`upstream "${pool.name}" server ${id} is up again`);
    else {
      this.logger.warn(`upstream "${pool.name}" server ${id} is down: ${reason}`);
      this.hooks.out?.(id);
    }
  }
}
