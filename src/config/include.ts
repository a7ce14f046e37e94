/** Resolving an `include` argument to files: globs may match nothing, plain names must exist. */

import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { ConfigError, type Loc } from "./errors.ts";
import { globFiles, hasGlobMagic } from "./glob.ts";
import { openFailure } from "./paths.ts";

/** The files an include names, relative to the MAIN configuration file's folder. */
export function includeFiles(pattern: string, baseDir: string): string[] {
  if (hasGlobMagic(pattern)) return globFiles(pattern, baseDir);
  return [isAbsolute(pattern) ? pattern : resolve(baseDir, pattern)];
}

/** Reads a configuration file, failing in nginx's words: `open() "/x" failed (2: No such file or directory)`. */
export function readConfigFile(path: string, at: Loc | undefined): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError("include", openFailure(path, err), at ?? { file: "", line: 0 });
  }
}
