/**
 * `include` file matching: `*`, `?` and `[...]` per path segment, like glob(3) as nginx
 * uses it. Written on node:fs readdir because fs.globSync differs between runtimes.
 * A leading `.` in a name is only matched by a pattern segment that starts with `.`.
 */

import { readdirSync, statSync } from "node:fs";
import { isAbsolute, join, resolve, sep } from "node:path";

export function hasGlobMagic(text: string): boolean {
  return /[*?[]/.test(text);
}

/** Converts one path segment pattern to a RegExp. */
function segmentRegExp(pattern: string): RegExp {
  let re = "^";
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === "*") re += "[^/]*";
    else if (ch === "?") re += "[^/]";
    else if (ch === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end < 0) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith("!") || body.startsWith("^");
      if (negate) body = body.slice(1);
      re += `[${negate ? "^" : ""}${body.replace(/[\\\]^]/g, "\\$&")}]`;
      i = end;
    } else re += ch.replace(/[.+^${}()|\\/]/g, "\\$&");
  }
  return new RegExp(`${re}$`);
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Files matching `pattern` (relative to `baseDir` unless absolute), sorted.
 * No match is an empty list, not an error.
 */
export function globFiles(pattern: string, baseDir: string): string[] {
  const absolute = isAbsolute(pattern) ? pattern : resolve(baseDir, pattern);
  const segments = absolute.split(sep);
  let paths = [segments[0] === "" ? sep : segments[0]!];
  for (const segment of segments.slice(1)) {
    if (segment === "") continue;
    const next: string[] = [];
    for (const dir of paths) {
      if (!hasGlobMagic(segment)) {
        const candidate = join(dir, segment);
        if (exists(candidate)) next.push(candidate);
        continue;
      }
      if (!isDirectory(dir)) continue;
      const re = segmentRegExp(segment);
      for (const name of readdirSync(dir)) {
        if (name.startsWith(".") && !segment.startsWith(".")) continue;
        if (re.test(name)) next.push(join(dir, name));
      }
    }
    paths = next;
  }
  return paths.filter((p) => !isDirectory(p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
