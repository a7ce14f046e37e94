/**
 * The master's side of pools_link.ts: the host's pools, fed by every worker's sessions.
 */
import type { Logger } from "../../log/logger.ts";
import { Pools } from "../../upstream/pools.ts";
import type { MasterMessage, PoolRequest } from "./pools_link.ts";

/** How long the master waits for a worker's held-back reports before answering without them. */
const SYNC_TIMEOUT_MS = 1000;

/** A worker as the master's pools see it. */
export interface PoolWorker {
  send(m: MasterMessage): void;
}

export class PoolsHost {
  readonly pools: Pools;
  /** Each worker's live sessions on pool backends: user → backend → how many. */
  private readonly sessions = new Map<PoolWorker, Map<string, Map<string, number>>>();
  private nextSync = 1;
  private readonly syncing = new Map<number, () => void>();

  constructor(private readonly logger: Logger) {
    this.pools = new Pools(logger, {
      kick: (login, backends) => this.kick(login, backends),
      out: (backend) => this.tellWorkers({ type: "backend_out", backend }),
    });
  }

  handle(worker: PoolWorker, m: PoolRequest): void {
    // from its first request on, a worker hears every move, drain and failure
    if (!this.sessions.has(worker)) this.sessions.set(worker, new Map());
    switch (m.type) {
      case "place":
        void this.pools.place(m.pool, m.facts).catch(() => undefined).then((target) =>
          worker.send(target ? { type: "placed", id: m.id, target } : { type: "placed", id: m.id })
        );
        break;
      case "sessions":
        for (const [login, upstream, started, ended] of m.counts) this.counted(worker, login, upstream, started, ended);
        break;
      case "synced":
        this.syncing.get(m.id)?.();
        this.syncing.delete(m.id);
        break;
      case "login_failed":
        this.pools.loginReported({ login: m.login, upstream: m.upstream }, false, m.refused);
        break;
    }
  }

  /** A worker's sessions of `login` on `upstream`: `started` more since its last report, `ended` of them over. */
  private counted(worker: PoolWorker, login: string, upstream: string, started: number, ended: number): void {
    const mine = this.sessions.get(worker)!;
    let backends = mine.get(login);
    if (!backends) mine.set(login, backends = new Map());
    const live = (backends.get(upstream) ?? 0) + started - ended;
    if (live > 0) backends.set(upstream, live);
    else backends.delete(upstream);
    if (backends.size === 0) mine.delete(login);
    this.pools.sessionsCounted(login, upstream, started, ended);
    // placed by a worker by itself while a move or a failure held the user elsewhere
    const held = started > 0 ? this.pools.heldElsewhere({ login, upstream }) : undefined;
    if (held) {
      const closed = this.kick(login, [upstream]);
      this.logger.notice(`upstream: user "${login}" is held to ${held}, ${closed} session(s) on ${upstream} closed`);
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
    for (const [login, backends] of this.sessions.get(worker) ?? []) {
      for (const [upstream, live] of backends) this.pools.sessionsCounted(login, upstream, 0, live);
    }
    this.sessions.delete(worker);
  }

  close(): void {
    this.pools.close();
  }

  /**
   * Every worker hears of a move, so that one still placing the user by itself from a
   * moment ago forgets them; those holding sessions of `login` on `backends` close them.
   */
  private kick(login: string, backends: readonly string[]): number {
    let kicked = 0;
    for (const mine of this.sessions.values()) {
      for (const [upstream, live] of mine.get(login) ?? []) if (backends.includes(upstream)) kicked += live;
    }
    this.tellWorkers({ type: "kick", login, backends: [...backends] });
    return kicked;
  }

  /** Every worker that has asked or told the master anything (the only ones that may place by themselves). */
  private tellWorkers(m: MasterMessage): void {
    for (const worker of this.sessions.keys()) worker.send(m);
  }
}
