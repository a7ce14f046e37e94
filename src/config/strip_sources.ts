/** Comparing models from different files: drop the places, keep the meaning. */

import type { Config } from "./model.ts";

/**
 * A deep copy of `config` without `source` fields and without `file`, so that the same
 * configuration written as nginx and as TOML compares equal.
 */
export function stripSources(config: Config): Omit<Config, "file"> {
  const strip = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(strip);
    if (typeof v !== "object" || v === null) return v;
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "source") out[k] = strip(x);
    return out;
  };
  const { file: _file, ...rest } = strip(config) as Config;
  return rest;
}
