/**
 * The signal an auth request carries to learn that its client left (a WAIT loop, its
 * delay and a request in flight end with it). AbortSignal's shape, the part used here,
 * so that an AbortSignal still serves (tests, callers of their own); the session's own
 * is this plain object, not an AbortController: that is an EventTarget of the runtime,
 * and its creation, `addEventListener` with options and `removeEventListener` cost
 * more than the rest of the auth request's JavaScript on every login.
 */

/** What `addEventListener` takes: a function or an object with `handleEvent`. */
export type LeaveListener = (() => void) | { handleEvent(): void };

/** The subset of AbortSignal that auth sources use. */
export interface LeaveSignal {
  readonly aborted: boolean;
  addEventListener(type: "abort", listener: LeaveListener, options?: { once?: boolean }): void;
  removeEventListener(type: "abort", listener: LeaveListener): void;
}

/** A one-shot signal: `abort()` tells each listener once, then none again. */
export class ClientLeft implements LeaveSignal {
  aborted = false;
  /** Usually one listener at a time (the exchange in flight, or a WAIT delay). */
  private listeners: LeaveListener[] = [];

  /** As on an AbortSignal, a listener added after the abort is never called. */
  addEventListener(_type: "abort", listener: LeaveListener): void {
    if (!this.aborted && !this.listeners.includes(listener)) this.listeners.push(listener);
  }

  removeEventListener(_type: "abort", listener: LeaveListener): void {
    const i = this.listeners.indexOf(listener);
    if (i >= 0) this.listeners.splice(i, 1);
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const listeners = this.listeners;
    this.listeners = [];
    for (const listener of listeners) {
      if (typeof listener === "function") listener();
      else listener.handleEvent();
    }
  }
}
