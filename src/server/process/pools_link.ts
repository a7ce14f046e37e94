/**
 * With workers, the master is the host's one placement authority for `upstream`
 * pools: the workers share listeners (SO_REUSEPORT), so one user's sessions reach
 * different workers, and only one set of assignments and session counts keeps them on
 * one backend (least_conn and round-robin included), survives a reload that replaces
 * the workers, and sees a drain or a move once. A worker asks the master where a login
 * goes and tells it how many sessions of each user started and ended where; the
 * master answers and, at a move, tells every worker which sessions to kick. The messages are JSON lines on the
 * pipes the master already has to each worker (worker.ts); pools_client.ts is the
 * worker's side, pools_host.ts the master's.
 */
import type { PlacementFacts } from "../../upstream/pool.ts";

/**
 * A sender of JSON lines that writes each event-loop turn's messages at once: a storm
 * of logins costs the pipe one syscall (and the other side one wake-up) per turn, not
 * several per login. Order is kept.
 */
export function batchedLines<M>(write: (text: string) => void): (m: M) => void {
  let pending = "";
  return (m) => {
    if (!pending) {
      setImmediate(() => {
        const text = pending;
        pending = "";
        write(text);
      });
    }
    pending += JSON.stringify(m) + "\n";
  };
}

/** A worker's sessions of one user on one backend since its last report: [login, backend, started, ended]. */
export type SessionCounts = [string, string, number, number];

/** What a worker tells its master about pooled logins. */
export type PoolRequest =
  | { type: "place"; id: number; pool: string; facts: PlacementFacts }
  | { type: "sessions"; counts: SessionCounts[] }
  | { type: "login_failed"; login: string; upstream: string; refused: boolean }
  | { type: "synced"; id: number };

/** What the master tells a worker, one JSON line each on its stdin after the envelope. */
export type MasterMessage =
  | { type: "placed"; id: number; target?: { host: string; port: number } }
  /** A move: close the user's sessions on `backends`, and place the user by the master again. */
  | { type: "kick"; login: string; backends: string[] }
  /** Drained or down: place the users held there by the master again. */
  | { type: "backend_out"; backend: string }
  /** Send every report not yet sent, then `synced`. */
  | { type: "sync"; id: number };
