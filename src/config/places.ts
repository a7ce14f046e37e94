/**
 * Where each directive was written, occurrence by occurrence, for the checks that need
 * a directive's line after loading (files that must open, hosts that must resolve).
 * Kept beside the model rather than in it, so that the same configuration written as
 * nginx and as TOML still loads to equal models.
 */

import type { Loc } from "./errors.ts";

/** One occurrence of a directive: its arguments (file paths resolved) and its place. */
interface Occurrence {
  args: string[];
  at: Loc;
}

/** Levels are the objects directives are stored in: the Config, a mail or a server's settings. */
export class Places {
  private readonly byLevel = new WeakMap<object, Map<string, Occurrence[]>>();

  add(level: object, name: string, occurrence: Occurrence): void {
    let names = this.byLevel.get(level);
    if (!names) this.byLevel.set(level, names = new Map());
    names.set(name, [...names.get(name) ?? [], occurrence]);
  }

  /** The occurrences of `name` at one level, in file order. */
  of(level: object, name: string): Occurrence[] {
    return this.byLevel.get(level)?.get(name) ?? [];
  }

  /** Names written at one level. */
  names(level: object): string[] {
    return [...this.byLevel.get(level)?.keys() ?? []];
  }

  /** The occurrences a server's value comes from: its own, else the mail block's (lists never merge). */
  inEffect(mail: { settings: object }, server: { settings: object }, name: string): Occurrence[] {
    const own = this.of(server.settings, name);
    return own.length ? own : this.of(mail.settings, name);
  }
}
