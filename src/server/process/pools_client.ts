/**
 * The worker's side of pools_link.ts: pooled logins placed by the master, or by the worker
 * itself for a user it already holds, and every session reported.
 */
import type { UpstreamBlock } from "../../config/model.ts";
import type { PlacementFacts } from "../../upstream/pool.ts";
import type { PoolPlacement, PoolSession } from "../../upstream/pools.ts";
import { PassthroughAuth } from "../../auth/passthrough.ts";
import type { PoolRequest } from "./pools_link.ts";

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
 */
export class PoolsClient implements PoolPlacement {
  private names = new Set<string>();
  /** Each pool's backend addresses; only sessions on these concern the master. */
  private members = new Map<string, Set<string>>();
  private nextId = 1;
  private readonly waiting = new Map<number, (target: Target) => void>();
  private readonly sids = new WeakMap<PoolSession, { sid: number; login: string; upstream: string }>();
  /** Sessions that ended before their backend login was reported. */
  private readonly ended = new WeakSet<PoolSession>();
  /** user → backend → this worker's live sessions of the user there (0: none, but lingering). */
  private readonly held = new Map<string, Map<string, number>>();
  /** Users held here with no live session, until when; oldest first. */
  private readonly lingering = new Map<string, number>();
  private linger = LINGER_MS;

  constructor(private readonly send: (m: PoolRequest) => void, private readonly now: () => number = Date.now) {}

  apply(upstreams: readonly UpstreamBlock[]): void {
    this.names = new Set(upstreams.map((u) => u.name));
    this.members = new Map(upstreams.map((u) => [u.name, new Set((u.settings.server ?? []).map((s) => s.address))]));
    this.linger = Math.min(LINGER_MS, ...upstreams.map((u) => u.settings.sticky_store?.ttl ?? LINGER_MS));
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  place(pool: string, facts: PlacementFacts): Promise<Target> {
    this.expire();
    const here = [...(this.held.get(facts.login)?.keys() ?? [])].filter((id) => this.members.get(pool)?.has(id));
    if (here.length === 1) return Promise.resolve(PassthroughAuth.parseTarget(here[0]!));
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.send({ type: "place", id, pool, facts });
    });
  }

  /** The master's answer to a `place`. */
  placed(id: number, target: Target): void {
    this.waiting.get(id)?.(target);
    this.waiting.delete(id);
  }

  /** A move (the master kicks the user's sessions on some backends): the next login asks it again. */
  kicked(login: string): void {
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
    if (mine?.size === 0) this.kicked(login);
  }

  /** Users whose linger is over are placed by the master again. */
  private expire(): void {
    const now = this.now();
    for (const [user, until] of this.lingering) {
      if (until > now) break;
      this.kicked(user);
    }
  }

  loginReported(session: PoolSession, ok: boolean, refused: boolean): void {
    const { login, upstream } = session;
    if (login === undefined || upstream === undefined || ![...this.members.values()].some((m) => m.has(upstream))) return;
    if (!ok) {
      // the master may take that backend out: its users are asked about again
      if (!refused) this.backendOut(upstream);
      this.send({ type: "login_failed", login, upstream, refused });
    } else if (!this.ended.has(session)) {
      const sid = this.nextId++;
      this.sids.set(session, { sid, login, upstream });
      let mine = this.held.get(login);
      if (!mine) this.held.set(login, mine = new Map());
      if (this.lingering.delete(login)) mine.clear();
      mine.set(upstream, (mine.get(upstream) ?? 0) + 1);
      this.send({ type: "session_started", sid, login, upstream });
    }
  }

  sessionClosed(session: PoolSession): void {
    const started = this.sids.get(session);
    if (!started) {
      if (session.upstream !== undefined) this.ended.add(session);
      return;
    }
    this.sids.delete(session);
    const mine = this.held.get(started.login);
    const count = mine?.get(started.upstream);
    // (undefined: a kick already forgot them)
    if (count !== undefined && count > 1) mine!.set(started.upstream, count - 1);
    else if (count !== undefined && mine!.size > 1) mine!.delete(started.upstream);
    else if (count !== undefined) {
      // the last: the user lingers here a moment
      mine!.set(started.upstream, 0);
      this.lingering.set(started.login, this.now() + this.linger);
    }
    this.expire();
    this.send({ type: "session_ended", sid: started.sid });
  }

  /** The master's `sync`: the reports still waiting go out, then the answer. */
  sync(id: number): void {
    this.send({ type: "synced", id });
  }

  /** The master is gone: the logins waiting for it get no backend. */
  close(): void {
    for (const resolve of this.waiting.values()) resolve(undefined);
    this.waiting.clear();
  }
}
