/**
 * proxy_timeout for thousands of relays without a timer each (a Timeout is ~180 bytes
 * of heap plus the runtime's own record, for every idle session). The relays with the
 * same timeout share one timer; a relay only notes when its client was last active,
 * and the timer, when the earliest of them could be due, sweeps them all.
 *
 * A timeout may fire up to 1/16 of itself late (at most 1 s), so that sweeps over
 * thousands of relays stay rare; nginx lets its own timers move by up to 300 ms for the
 * same reason.
 */

export interface IdleMember {
  /** performance.now() of the last activity that counts. */
  lastActive: number;
  idleExpired(): void;
}

/** setTimeout's ceiling; a longer wait is done in steps. */
const MAX_TIMER_MS = 0x7fffffff;

export class IdleGroup {
  private readonly members = new Set<IdleMember>();
  private timer?: ReturnType<typeof setTimeout>;
  /** The least time between two sweeps. */
  private readonly slack: number;

  constructor(private readonly idleMs: number) {
    this.slack = Math.min(1000, Math.max(1, Math.ceil(idleMs / 16)));
  }

  /** Watch `member`, active now. A member joining is never due before those already in: no re-arming. */
  add(member: IdleMember): void {
    member.lastActive = performance.now();
    this.members.add(member);
    this.timer ??= setTimeout(this.sweep, Math.min(this.idleMs, MAX_TIMER_MS));
  }

  remove(member: IdleMember): void {
    this.members.delete(member);
    if (this.members.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.members.size;
  }

  private readonly sweep = (): void => {
    this.timer = undefined;
    const now = performance.now();
    const expired: IdleMember[] = [];
    let next = Infinity;
    for (const m of this.members) {
      const due = m.lastActive + this.idleMs;
      if (due <= now) expired.push(m);
      else if (due < next) next = due;
    }
    for (const m of expired) {
      this.members.delete(m);
      m.idleExpired();
    }
    // what an expiry's callbacks did to the group is already in it: re-arm only if someone is left
    if (this.members.size > 0 && !this.timer) {
      const wait = Number.isFinite(next) ? Math.max(next - now, this.slack) : this.slack;
      this.timer = setTimeout(this.sweep, Math.min(wait, MAX_TIMER_MS));
    }
  };
}

const groups = new Map<number, IdleGroup>();

/** The group of every relay with this timeout (a handful per configuration: kept). */
export function idleGroup(idleMs: number): IdleGroup {
  let group = groups.get(idleMs);
  if (!group) groups.set(idleMs, group = new IdleGroup(idleMs));
  return group;
}
