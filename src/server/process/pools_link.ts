/**
 * With workers, the master is the host's one placement authority for `upstream`
 * pools: the workers share listeners (SO_REUSEPORT), so one user's sessions reach
 * different workers, and only one set of assignments and session counts keeps them on
 * one backend (least_conn and round-robin included), survives a reload that replaces
 * the workers, and sees a drain or a move once. A worker asks the master where a login
 * goes and tells it what became of the session; the master answers and, at a move,
 * tells every worker which sessions to kick. The messages are JSON lines on the
 * pipes the master already has to each worker (worker.ts).
 */
import type { UpstreamBlock } from "../../config/model.ts";
import type { Logger } from "../../log/logger.ts";
import type { PlacementFacts } from "../../upstream/pool.ts";
import { type PoolPlacement, Pools, type PoolSession } from "../../upstream/pools.ts";
import { PassthroughAuth } from "../../auth/passthrough.ts";

type Target = { host: string; port: number } | undefined;

/** How long the master waits for a worker's held-back reports before answering without them. */
const SYNC_TIMEOUT_MS = 1000;

/**
 * A sender of JSON lines that writes each event-loop turn's messages at once: a storm
 * of logins costs the pipe one syscall (and the other side one wake-up) per turn, not
 * several per login. A message `urgent` does not call urgent (a report nobody waits
 * for) waits up to `lazyMs` for company. Order is kept.
 */
export function batchedLines<M>(write: (text: string) => void, urgent: (m: M) => boolean = () => true, lazyMs = 0): (m: M) => void {
  let pending = "";
  let soon = false;
  let later: ReturnType<typeof setTimeout> | undefined;
  const flush = () => {
    clearTimeout(later);
    later = undefined;
    soon = false;
    const text = pending;
    pending = "";
    if (text) write(text);
  };
  return (m) => {
    pending += JSON.stringify(m) + "\n";
    if (soon) return;
    if (urgent(m)) {
      soon = true;
      setImmediate(flush);
    } else if (!later) {
      later = setTimeout(flush, lazyMs);
      (later as { unref?: () => void }).unref?.();
    }
  };
}

/** What a worker tells its master about pooled logins. */
export type PoolRequest =
  | { type: "place"; id: number; pool: string; facts: PlacementFacts }
  | { type: "session_started"; sid: number; login: string; upstream: string }
  | { type: "login_failed"; login: string; upstream: string; refused: boolean }
  | { type: "session_ended"; sid: number }
  | { type: "synced"; id: number };

/** What the master tells a worker, one JSON line each on its stdin after the envelope. */
export type MasterMessage =
  | { type: "placed"; id: number; target?: { host: string; port: number } }
  | { type: "kick"; login: string; backends: string[] }
  /** Send every report not yet sent, then `synced`. */
  | { type: "sync"; id: number };

/**
 * The worker's side: placement asked of the master, sessions reported to it. A user
 * with a live session in this worker gets the next one on the same backend without
 * asking: the master holds such a user there too, until a move or a failure, which
 * reach this worker as a kick or as a failed login here (the master also closes the
 * sessions of a placement made stale by one racing it, PoolsHost). A storm of one
 * user's logins costs no round trip.
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
  /** user → backend → this worker's live sessions of the user there. */
  private readonly held = new Map<string, Map<string, number>>();

  constructor(private readonly send: (m: PoolRequest) => void) {}

  apply(upstreams: readonly UpstreamBlock[]): void {
    this.names = new Set(upstreams.map((u) => u.name));
    this.members = new Map(upstreams.map((u) => [u.name, new Set((u.settings.server ?? []).map((s) => s.address))]));
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  place(pool: string, facts: PlacementFacts): Promise<Target> {
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

  /** The master kicks the user's sessions on these backends: the next login asks it again. */
  kicked(login: string, backends: readonly string[]): void {
    this.forget(login, backends);
  }

  private forget(login: string, backends: readonly string[]): void {
    const mine = this.held.get(login);
    for (const id of backends) mine?.delete(id);
    if (mine?.size === 0) this.held.delete(login);
  }

  loginReported(session: PoolSession, ok: boolean, refused: boolean): void {
    const { login, upstream } = session;
    if (login === undefined || upstream === undefined || ![...this.members.values()].some((m) => m.has(upstream))) return;
    if (!ok) {
      // the master may take that backend out: its users are asked about again
      if (!refused) for (const user of [...this.held.keys()]) this.forget(user, [upstream]);
      this.send({ type: "login_failed", login, upstream, refused });
    } else if (!this.ended.has(session)) {
      const sid = this.nextId++;
      this.sids.set(session, { sid, login, upstream });
      let mine = this.held.get(login);
      if (!mine) this.held.set(login, mine = new Map());
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
    // none left: the user is no longer held here (or a kick already forgot them)
    if (count !== undefined && count > 1) mine!.set(started.upstream, count - 1);
    else if (count !== undefined) this.forget(started.login, [started.upstream]);
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

/** A worker as the master's pools see it. */
export interface PoolWorker {
  send(m: MasterMessage): void;
}

/** The master's side: the host's pools, fed by every worker's sessions. */
export class PoolsHost {
  readonly pools: Pools;
  /** Each worker's sessions on pool backends, by the worker's session id. */
  private readonly sessions = new Map<PoolWorker, Map<number, PoolSession>>();
  private nextSync = 1;
  private readonly syncing = new Map<number, () => void>();

  constructor(private readonly logger: Logger) {
    this.pools = new Pools(logger, (login, backends) => this.kick(login, backends));
  }

  handle(worker: PoolWorker, m: PoolRequest): void {
    switch (m.type) {
      case "place":
        void this.pools.place(m.pool, m.facts).catch(() => undefined).then((target) =>
          worker.send(target ? { type: "placed", id: m.id, target } : { type: "placed", id: m.id })
        );
        break;
      case "session_started": {
        const session = { login: m.login, upstream: m.upstream };
        let mine = this.sessions.get(worker);
        if (!mine) this.sessions.set(worker, mine = new Map());
        mine.set(m.sid, session);
        this.pools.loginReported(session, true, false);
        // placed by a worker from its own sessions while a move or a failure held the user elsewhere
        const held = this.pools.heldElsewhere(session);
        if (held) {
          const closed = this.kick(m.login, [m.upstream]);
          this.logger.notice(`upstream: user "${m.login}" is held to ${held}, ${closed} session(s) on ${m.upstream} closed`);
        }
        break;
      }
      case "synced":
        this.syncing.get(m.id)?.();
        this.syncing.delete(m.id);
        break;
      case "login_failed":
        this.pools.loginReported({ login: m.login, upstream: m.upstream }, false, m.refused);
        break;
      case "session_ended": {
        const session = this.sessions.get(worker)?.get(m.sid);
        if (!session) return;
        this.sessions.get(worker)!.delete(m.sid);
        this.pools.sessionClosed(session);
      }
    }
  }

  /**
   * Resolves once each of `workers` has sent every report it held back (the pipes keep
   * their order), or could not within a second (a worker stuck or gone): then the
   * pools' numbers and a move's kicks count every session that has started.
   */
  async sync(workers: readonly PoolWorker[]): Promise<void> {
    await Promise.all(workers.map((worker) =>
      new Promise<void>((resolve) => {
        const id = this.nextSync++;
        const timer = setTimeout(() => {
          this.syncing.delete(id);
          resolve();
        }, SYNC_TIMEOUT_MS);
        this.syncing.set(id, () => {
          clearTimeout(timer);
          resolve();
        });
        worker.send({ type: "sync", id });
      })
    ));
  }

  /** A worker exited: its sessions are over. */
  workerGone(worker: PoolWorker): void {
    for (const session of this.sessions.get(worker)?.values() ?? []) this.pools.sessionClosed(session);
    this.sessions.delete(worker);
  }

  close(): void {
    this.pools.close();
  }

  /** Every worker holding a session of `login` on one of `backends` kicks it. */
  private kick(login: string, backends: readonly string[]): number {
    let kicked = 0;
    for (const [worker, mine] of this.sessions) {
      const n = [...mine.values()].filter((s) => s.login === login && backends.includes(s.upstream!)).length;
      if (n === 0) continue;
      kicked += n;
      worker.send({ type: "kick", login, backends: [...backends] });
    }
    return kicked;
  }
}
