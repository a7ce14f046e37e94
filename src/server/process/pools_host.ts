/**
 * The master's side of pools_link.ts: the host's pools, fed by every worker's sessions.
 */
import type { Logger } from "../../log/logger.ts";
import { Pools, type PoolSession } from "../../upstream/pools.ts";
import type { MasterMessage, PoolRequest } from "./pools_link.ts";

/** How long the master waits for a worker's held-back reports before answering without them. */
const SYNC_TIMEOUT_MS = 1000;

/** A worker as the master's pools see it. */
export interface PoolWorker {
  send(m: MasterMessage): void;
}

export class PoolsHost {
  readonly pools: Pools;
  /** Each worker's sessions on pool backends, by the worker's session id. */
  private readonly sessions = new Map<PoolWorker, Map<number, PoolSession>>();
  private nextSync = 1;
  private readonly syncing = new Map<number, () => void>();

  constructor(private readonly logger: Logger) {
    this.pools = new Pools(logger, {
      kick: (login, backends) => this.kick(login, backends),
      out: (backend) => this.tellWorkers({ type: "backend_out", backend }),
    });
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

  /**
   * Every worker hears of a move, so that one still placing the user by itself from a
   * moment ago forgets them; those holding sessions of `login` on `backends` close them.
   */
  private kick(login: string, backends: readonly string[]): number {
    let kicked = 0;
    for (const mine of this.sessions.values()) {
      for (const s of mine.values()) if (s.login === login && backends.includes(s.upstream!)) kicked++;
    }
    this.tellWorkers({ type: "kick", login, backends: [...backends] });
    return kicked;
  }

  /** Every worker that ever reported a session (the only ones that may place by themselves). */
  private tellWorkers(m: MasterMessage): void {
    for (const worker of this.sessions.keys()) worker.send(m);
  }
}
