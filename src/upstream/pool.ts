/**
 * One `upstream NAME { }` pool as pure state (no I/O; the clock is passed in): its
 * backends and their health, the user → backend assignments of this process, and
 * the sessions each user has on each backend. pool_router.ts asks it where a login
 * goes; the session observer tells it what became of it.
 *
 * Stickiness: a user with sessions on a backend stays there (while it is not down,
 * even when it drains: one user is never split across two live backends); without
 * sessions the assignment lives `ttl` more, then the user is placed afresh.
 */
import type { UpstreamBlock, UpstreamServerSpec } from "../config/model.ts";
import { HashRing, hash32 } from "./hash_ring.ts";
import { ActiveHealth, PassiveHealth } from "./health.ts";

/** Without sticky_store an assignment still outlives the user's last session by this much. */
const DEFAULT_TTL_MS = 3_600_000;

/** What `hash $variable` may hash besides `$login`. */
export interface PlacementFacts {
  login: string;
  remote_addr: string;
  protocol: string;
}

export type BackendStateName = "up" | "down" | "draining" | "disabled" | "removed";

export interface BackendStatus {
  server: string;
  state: BackendStateName;
  backup: boolean;
  weight: number;
  sessions: number;
  users: number;
  failures: number;
  /** Users placed here (by the balancing method, the fleet's store or a move). */
  selections: number;
}

class Backend {
  sessions = 0;
  selections = 0;
  drained = false;
  /** Gone from the configuration: drains, and is forgotten with its last session. */
  removed = false;
  /** Smooth weighted round-robin's running score. */
  current = 0;
  passive: PassiveHealth;
  active?: ActiveHealth;

  constructor(public spec: UpstreamServerSpec) {
    this.passive = new PassiveHealth(spec.max_fails, spec.fail_timeout);
  }

  get id(): string {
    return this.spec.address;
  }

  /** Down for real: by configuration or by health. Its users move. */
  dead(now: number): boolean {
    return this.spec.down || !this.passive.up(now) || this.active?.healthy === false;
  }

  /** May take a new user. */
  open(now: number): boolean {
    return !this.dead(now) && !this.drained && !this.removed;
  }
}

interface Assignment {
  id: string;
  /** When the user's last session here ended; undefined while one runs (or none started yet). */
  idleSince?: number;
}

export class Pool {
  private readonly backends = new Map<string, Backend>();
  private readonly assignments = new Map<string, Assignment>();
  /** user → backend → sessions. */
  private readonly live = new Map<string, Map<string, number>>();
  private ring!: { primary: HashRing; backup: HashRing };
  private spec!: UpstreamBlock;

  constructor(spec: UpstreamBlock) {
    this.update(spec);
  }

  get name(): string {
    return this.spec.name;
  }

  get ttl(): number {
    return this.spec.settings.sticky_store?.ttl ?? DEFAULT_TTL_MS;
  }

  /**
   * Reload: backends kept by address keep their sessions, health and assignments;
   * new ones join; removed ones drain and are forgotten with their last session.
   */
  update(spec: UpstreamBlock): void {
    this.spec = spec;
    const servers = spec.settings.server ?? [];
    const wanted = new Set(servers.map((s) => s.address));
    for (const s of servers) {
      const b = this.backends.get(s.address);
      if (b) {
        // Health survives a reload unless its rule changed: a dead backend stays out.
        if (s.max_fails !== b.spec.max_fails || s.fail_timeout !== b.spec.fail_timeout) b.passive = new PassiveHealth(s.max_fails, s.fail_timeout);
        b.spec = s;
        b.removed = false;
      } else this.backends.set(s.address, new Backend(s));
    }
    for (const b of this.backends.values()) {
      if (!wanted.has(b.id)) {
        b.removed = true;
        if (b.sessions === 0) this.backends.delete(b.id);
      }
    }
    const check = spec.settings.health_check;
    for (const b of this.backends.values()) {
      if (!check) b.active = undefined;
      else if (!b.active) b.active = new ActiveHealth(check.fails, check.passes);
    }
    const members = (backup: boolean) =>
      [...this.backends.values()].filter((b) => !b.removed && b.spec.backup === backup).map((b) => ({ id: b.id, weight: b.spec.weight }));
    this.ring = { primary: new HashRing(members(false)), backup: new HashRing(members(true)) };
  }

  /** The addresses active health checks probe. */
  probeTargets(): UpstreamServerSpec[] {
    return [...this.backends.values()].filter((b) => !b.removed && !b.spec.down).map((b) => b.spec);
  }

  /** The backend the user is held to, if any (see the file comment); a stale assignment is dropped. */
  assigned(user: string, now: number): string | undefined {
    const a = this.assignments.get(user);
    if (!a) return undefined;
    const b = this.backends.get(a.id);
    const sessions = this.live.get(user)?.get(a.id) ?? 0;
    const keep = b !== undefined && !b.dead(now) &&
      (sessions > 0 || (b.open(now) && (a.idleSince === undefined || now - a.idleSince <= this.ttl)));
    if (keep) return a.id;
    this.assignments.delete(user);
    return undefined;
  }

  /**
   * Where a new user goes: the balancing method over the open primaries (the backups
   * when none is open); `ring` forces the consistent ring on `$login` (the fleet's
   * fallback when its sticky store is unreachable). Undefined: no backend is open.
   */
  choose(facts: PlacementFacts, now: number, ring = false): string | undefined {
    let open = [...this.backends.values()].filter((b) => b.open(now) && !b.spec.backup);
    let members = this.ring.primary;
    if (open.length === 0) {
      open = [...this.backends.values()].filter((b) => b.open(now) && b.spec.backup);
      members = this.ring.backup;
    }
    if (open.length === 0) return undefined;
    const { hash, least_conn } = this.spec.settings;
    if (ring || hash?.consistent) {
      const key = ring ? facts.login : keyOf(hash!.key, facts);
      const ids = new Set(open.map((b) => b.id));
      return members.order(key).find((id) => ids.has(id));
    }
    if (hash) {
      const total = open.reduce((sum, b) => sum + b.spec.weight, 0);
      let at = hash32(keyOf(hash.key, facts)) % total;
      return open.find((b) => (at -= b.spec.weight) < 0)!.id;
    }
    if (least_conn) {
      return open.reduce((best, b) => (b.sessions / b.spec.weight < best.sessions / best.spec.weight ? b : best)).id;
    }
    // nginx's smooth weighted round-robin.
    let total = 0;
    let best = open[0]!;
    for (const b of open) {
      b.current += b.spec.weight;
      total += b.spec.weight;
      if (b.current > best.current) best = b;
    }
    best.current -= total;
    return best.id;
  }

  /** Hold the user to `id` from now on (for `ttl` if no session starts there). */
  assign(user: string, id: string, now: number): void {
    const b = this.backends.get(id);
    if (b && this.assignments.get(user)?.id !== id) b.selections++;
    const sessions = this.live.get(user)?.get(id) ?? 0;
    this.assignments.set(user, sessions > 0 ? { id } : { id, idleSince: now });
  }

  /** Whether `id` may take a new user now (for an answer from the sticky store). */
  open(id: string, now: number): boolean {
    return this.backends.get(id)?.open(now) ?? false;
  }

  has(id: string): boolean {
    return this.backends.has(id);
  }

  sessionStarted(user: string, id: string): void {
    const b = this.backends.get(id);
    if (!b) return;
    b.sessions++;
    b.passive.succeeded();
    let mine = this.live.get(user);
    if (!mine) this.live.set(user, mine = new Map());
    mine.set(id, (mine.get(id) ?? 0) + 1);
    const a = this.assignments.get(user);
    if (a?.id === id) a.idleSince = undefined;
  }

  sessionEnded(user: string, id: string, now: number): void {
    const mine = this.live.get(user);
    const count = mine?.get(id);
    if (!mine || count === undefined) return;
    if (count > 1) mine.set(id, count - 1);
    else {
      mine.delete(id);
      if (mine.size === 0) this.live.delete(user);
      const a = this.assignments.get(user);
      if (a?.id === id) a.idleSince = now;
    }
    const b = this.backends.get(id);
    if (!b) return;
    b.sessions--;
    if (b.removed && b.sessions === 0) this.backends.delete(id);
  }

  /** A connect that failed or a login that timed out (passive health); true when it took the backend out. */
  loginFailed(id: string, now: number): boolean {
    const b = this.backends.get(id);
    if (!b) return false;
    const wasDead = b.dead(now);
    b.passive.failed(now);
    return !wasDead && b.dead(now);
  }

  /** One active probe; true when it changed the backend's health. */
  probed(id: string, ok: boolean): boolean {
    return this.backends.get(id)?.active?.probed(ok) ?? false;
  }

  /** No new users; the sessions there finish. False: no such backend. */
  drain(id: string): boolean {
    const b = this.backends.get(id);
    if (b) b.drained = true;
    return b !== undefined;
  }

  /** The backends the user has sessions on now. */
  sessionsOf(user: string): string[] {
    return [...(this.live.get(user)?.keys() ?? [])];
  }

  status(now: number): BackendStatus[] {
    const users = new Map<string, number>();
    for (const user of [...this.assignments.keys()]) {
      const id = this.assigned(user, now);
      if (id) users.set(id, (users.get(id) ?? 0) + 1);
    }
    return [...this.backends.values()].map((b) => ({
      server: b.id,
      state: b.removed ? "removed" : b.spec.down ? "disabled" : b.dead(now) ? "down" : b.drained ? "draining" : "up",
      backup: b.spec.backup,
      weight: b.spec.weight,
      sessions: b.sessions,
      users: users.get(b.id) ?? 0,
      failures: b.passive.total,
      selections: b.selections,
    }));
  }
}

function keyOf(variable: string, facts: PlacementFacts): string {
  const name = variable.slice(1) as keyof PlacementFacts;
  return facts[name] ?? "";
}
