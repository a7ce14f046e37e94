/**
 * The worker's side of pools_link.ts: pooled logins placed by the master, or by the worker
 * itself for a user it already holds, and every session reported.
 */
import type { UpstreamBlock } from "../../config/model.ts";
import type { PlacementFacts } from "../../upstream/pool.ts";
import type { PoolPlacement, PoolSession } from "../../upstream/pools.ts";
import { PassthroughAuth } from "../../auth/passthrough.ts";
import type { PoolRequest, SessionCounts } from "./pools_link.ts";

type Target = { host: string; port: number } | undefined;

/** How long a worker goes on placing a user by itself after its last session of them ended. */
const LINGER_MS = 2000;

/**
 * The worker's side: placement asked of the master, sessions reported to it. A user
 * with a live session in this worker, or one that ended less than LINGER_MS ago (at
 * most the pools' shortest `ttl`), gets the next one on the same backend without
 * asking: the master holds such a user there too, until a move, a drain or a failure,
 * which reach this worker as a kick, a `backend_out` or a failed login here (the
 * master also closes the sessions of a placement made stale by one racing it,
 * PoolsHost). A storm of one user's logins costs no round trip.
 *
 * Sessions are reported as counts per user and backend (so many started, so many
 * ended), sent `reportDelayMs` after the first change: a storm's reports wake the
 * master a few times a second with a line per user, not twice per login. A
 * placement and a sync take them along first. Without a delay each goes at once.
 */
export class PoolsClient implements PoolPlacement {
  private names = new Set<string>();
  /** Each pool's backend addresses; only sessions on these concern the master. */
  private members = new Map<string, Set<string>>();
  /** Every pool's backend addresses. */
  private backends = new Set<string>();
  private nextId = 1;
  private readonly waiting = new Map<number, (target: Target) => void>();
  /** Sessions whose start was reported, and where. */
  private readonly started = new WeakMap<PoolSession, { login: string; upstream: string }>();
  /** Sessions that ended before their backend login was reported. */
  private readonly ended = new WeakSet<PoolSession>();
  /** user → backend → this worker's live sessions of the user there (0: none, but lingering). */
  private readonly held = new Map<string, Map<string, number>>();
  /** Users held here with no live session, until when; oldest first. */
  private readonly lingering = new Map<string, number>();
  private linger = LINGER_MS;
  /** user → backend → sessions started and ended there since the last report. */
  private readonly counts = new Map<string, Map<string, { started: number; ended: number }>>();
  private reportTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly send: (m: PoolRequest) => void,
    private readonly options: { now?: () => number; reportDelayMs?: number } = {},
  ) {}

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  apply(upstreams: readonly UpstreamBlock[]): void {
    this.names = new Set(upstreams.map((u) => u.name));
    this.members = new Map(upstreams.map((u) => [u.name, new Set((u.settings.server ?? []).map((s) => s.address))]));
    this.backends = new Set([...this.members.values()].flatMap((m) => [...m]));
    this.linger = Math.min(LINGER_MS, ...upstreams.map((u) => u.settings.sticky_store?.ttl ?? LINGER_MS));
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  place(pool: string, facts: PlacementFacts): Promise<Target> {
    this.expire();
    const here = this.heldIn(pool, facts.login);
    if (here !== undefined) return Promise.resolve(PassthroughAuth.parseTarget(here));
    const id = this.nextId++;
    this.report();
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ type: "place", id, pool, facts });
    });
  }

  /** The one backend of `pool` this worker holds the user on, if it holds them on exactly one. */
  private heldIn(pool: string, login: string): string | undefined {
    const members = this.members.get(pool);
    let found: string | undefined;
    for (const id of this.held.get(login)?.keys() ?? []) {
      if (!members?.has(id)) continue;
      if (found !== undefined) return undefined;
      found = id;
    }
    return found;
  }

  /** The master's answer to a `place`. */
  placed(id: number, target: Target): void {
    this.waiting.get(id)?.(target);
    this.waiting.delete(id);
  }

  /** A move (the master kicks the user's sessions on some backends): the next login asks it again. */
  kicked(login: string): void {
    this.forgetUser(login);
  }

  private forgetUser(login: string): void {
    this.held.delete(login);
    this.lingering.delete(login);
  }

  /** Drained or down: the users held there are placed by the master again. */
  backendOut(backend: string): void {
    for (const user of [...this.held.keys()]) this.forget(user, backend);
  }

  private forget(login: string, backend: string): void {
    const mine = this.held.get(login);
    mine?.delete(backend);
    if (mine?.size === 0) this.forgetUser(login);
  }

  /** Users whose linger is over are placed by the master again. */
  private expire(): void {
    const now = this.now();
    for (const [user, until] of this.lingering) {
      if (until > now) break;
      this.forgetUser(user);
    }
  }

  loginReported(session: PoolSession, ok: boolean, refused: boolean): void {
    const { login, upstream } = session;
    if (login === undefined || upstream === undefined || !this.backends.has(upstream)) return;
    if (!ok) {
      // the master may take that backend out: its users are asked about again
      if (!refused) this.backendOut(upstream);
      this.send({ type: "login_failed", login, upstream, refused });
    } else if (!this.ended.has(session)) {
      this.started.set(session, { login, upstream });
      let mine = this.held.get(login);
      if (!mine) this.held.set(login, mine = new Map());
      if (this.lingering.delete(login)) mine.clear();
      mine.set(upstream, (mine.get(upstream) ?? 0) + 1);
      this.count(login, upstream).started++;
      this.reportSoon();
    }
  }

  sessionClosed(session: PoolSession): void {
    const started = this.started.get(session);
    if (!started) {
      // Only a pool backend's session can still be reported (loginReported's own test):
      // one WeakSet entry per login otherwise, for nothing.
      if (session.upstream !== undefined && this.backends.has(session.upstream)) this.ended.add(session);
      return;
    }
    this.started.delete(session);
    const mine = this.held.get(started.login);
    const count = mine?.get(started.upstream);
    // (undefined: a kick already forgot them)
    if (mine && count !== undefined) {
      if (count > 1) mine.set(started.upstream, count - 1);
      else if (mine.size > 1) mine.delete(started.upstream);
      else {
        // the last: the user lingers here a moment
        mine.set(started.upstream, 0);
        this.lingering.set(started.login, this.now() + this.linger);
      }
    }
    this.expire();
    this.count(started.login, started.upstream).ended++;
    this.reportSoon();
  }

  /** The master's `sync`: the reports still waiting go out, then the answer. */
  sync(id: number): void {
    this.report();
    this.send({ type: "synced", id });
  }

  private count(login: string, upstream: string): { started: number; ended: number } {
    let mine = this.counts.get(login);
    if (!mine) this.counts.set(login, mine = new Map());
    let count = mine.get(upstream);
    if (!count) mine.set(upstream, count = { started: 0, ended: 0 });
    return count;
  }

  private reportSoon(): void {
    const delay = this.options.reportDelayMs;
    if (!delay) this.report();
    else if (!this.reportTimer) {
      this.reportTimer = setTimeout(() => this.report(), delay);
      (this.reportTimer as { unref?: () => void }).unref?.();
    }
  }

  /** The counts since the last report go to the master. */
  private report(): void {
    clearTimeout(this.reportTimer);
    this.reportTimer = undefined;
    if (this.counts.size === 0) return;
    const counts: SessionCounts[] = [];
    for (const [login, mine] of this.counts) {
      for (const [upstream, { started, ended }] of mine) counts.push([login, upstream, started, ended]);
    }
    this.counts.clear();
    this.send({ type: "sessions", counts });
  }

  /** The master is gone: the logins waiting for it get no backend. */
  close(): void {
    clearTimeout(this.reportTimer);
    for (const resolve of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
  }
}
