/**
 * The format-neutral shape both loaders produce before interpretation: a directive name,
 * its arguments as nginx words, where it came from, and (for blocks) its children.
 * The nginx parser builds these from tokens; the TOML loader from keys and values.
 * `interpret.ts` turns them into the typed model using the directive table.
 */

import type { Loc } from "./errors.ts";

export interface Statement {
  name: string;
  args: string[];
  at: Loc;
  /** Children of a `{ }` block; undefined for a directive ended by `;`. */
  block?: Statement[];
}
