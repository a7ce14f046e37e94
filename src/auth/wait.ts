/**
 * A wait that ends early when its client leaves: an Auth-Wait or WAIT delay must
 * not keep a closed session (and its timer) alive, nor lead to another request.
 */
import { setTimeout } from "node:timers";
import type { LeaveSignal } from "./client_left.ts";

/** Node timers overflow above this many ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Resolves true after `ms`, or false as soon as `signal` aborts (at once if it already has).
 * @example if (!(await waitUnlessAborted(1000, request.signal))) return; // the client left
 */
export function waitUnlessAborted(ms: number, signal?: LeaveSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", aborted);
      resolve(completed);
    };
    const aborted = () => done(false);
    const timer = setTimeout(() => done(true), Math.min(Math.max(ms, 0), MAX_TIMER_MS));
    signal?.addEventListener("abort", aborted, { once: true });
  });
}
