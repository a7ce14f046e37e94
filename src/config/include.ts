/** Resolving an `include` argument to files: globs may match nothing, plain names must exist. */

import { readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { ConfigError, type Loc } from "./errors.ts";
import { globFiles, hasGlobMagic } from "./glob.ts";

/** The files an include names, relative to the MAIN configuration file's folder. */
export function includeFiles(pattern: string, baseDir: string): string[] {
  if (hasGlobMagic(pattern)) return globFiles(pattern, baseDir);
  return [isAbsolute(pattern) ? pattern : resolve(baseDir, pattern)];
}

const ERRNO: Record<string, number> = { ENOENT: 2, EACCES: 13, EISDIR: 21 };

/** Reads a configuration file, failing in nginx's words: `open() "/x" failed (2: No such file or directory)`. */
export function readConfigFile(path: string, at: Loc | undefined): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const text = err.code === "ENOENT"
      ? "No such file or directory"
      : err.code === "EACCES"
      ? "Permission denied"
      : err.code === "EISDIR"
      ? "Is a directory"
      : String(err.message);
    const reason = `open() "${path}" failed (${ERRNO[err.code ?? ""] ?? 0}: ${text})`;
    throw new ConfigError("include", reason, at ?? { file: "", line: 0 });
  }
}
