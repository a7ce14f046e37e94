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

type Target = { host: string; port: number } | undefined;

/** What a worker tells its master about pooled logins. */
export type PoolRequest =
  | { type: "place"; id: number; pool: string; facts: PlacementFacts }
  | { type: "session_started"; sid: number; login: string; upstream: string }
  | { type: "login_failed"; login: string; upstream: string; refused: boolean }
  | { type: "session_ended"; sid: number };

/** What the master tells a worker, one JSON line each on its stdin after the envelope. */
export type MasterMessage =
  | { type: "placed"; id: number; target?: { host: string; port: number } }
  | { type: "kick"; login: string; backends: string[] };

/** The worker's side: placement asked of the master, sessions reported to it. */
export class PoolsClient implements PoolPlacement {
  private names = new Set<string>();
  /** Every pool's backend addresses: only sessions on these concern the master. */
  private members = new Set<string>();
  private nextId = 1;
  private readonly waiting = new Map<number, (target: Target) => void>();
  private readonly sids = new WeakMap<PoolSession, number>();
  /** Sessions that ended before their backend login was reported. */
  private readonly ended = new WeakSet<PoolSession>();

  constructor(private readonly send: (m: PoolRequest) => void) {}

  apply(upstreams: readonly UpstreamBlock[]): void {
    this.names = new Set(upstreams.map((u) => u.name));
    this.members = new Set(upstreams.flatMap((u) => (u.settings.server ?? []).map((s) => s.address)));
  }

  has(name: string): boolean {
    return this.names.has(name);
  }

  place(pool: string, facts: PlacementFacts): Promise<Target> {
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

  loginReported(session: PoolSession, ok: boolean, refused: boolean): void {
    const { login, upstream } = session;
    if (login === undefined || upstream === undefined || !this.members.has(upstream)) return;
    if (!ok) this.send({ type: "login_failed", login, upstream, refused });
    else if (!this.ended.has(session)) {
      const sid = this.nextId++;
      this.sids.set(session, sid);
      this.send({ type: "session_started", sid, login, upstream });
    }
  }

  sessionClosed(session: PoolSession): void {
    const sid = this.sids.get(session);
    if (sid !== undefined) {
      this.sids.delete(session);
      this.send({ type: "session_ended", sid });
    } else if (session.upstream !== undefined) this.ended.add(session);
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

  constructor(logger: Logger) {
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
        break;
      }
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
