/**
 * File paths named by directives, resolved as nginx resolves them (ngx_conf_full_name):
 * an absolute path stays, a relative one is taken against the conf prefix (the main
 * configuration file's folder: certificates, keys, include, auth_file) or against the
 * `-p` prefix (error_log, pid, access_log). Targets that are not files stay as written.
 */

import { openSync, closeSync, statSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { errnoText } from "../errno.ts";

/** What a relative path in a directive is relative to. */
export type PathBase = "conf" | "prefix";

/** Words that name something other than a file: `stderr`, `syslog:`, `data:` PEM, engine keys. */
const NOT_A_FILE = /^(stderr$|syslog:|memory:|data:|engine:|store:)/;

/** `cert.pem` under `/etc/mail` → `/etc/mail/cert.pem`; `stderr`, `data:...` unchanged. */
export function resolvePath(value: string, base: string): string {
  if (value === "" || NOT_A_FILE.test(value) || isAbsolute(value)) return value;
  return resolve(base, value);
}

/** nginx's wording for a failed open: `open() "/x" failed (2: No such file or directory)`. */
export function openFailure(path: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return `open() "${path}" failed (${errnoText(e.code) ?? `0: ${e.message}`})`;
}

/** Why `path` cannot be read as a file, in nginx's words; undefined when it can. */
export function unreadable(path: string): string | undefined {
  if (NOT_A_FILE.test(path)) return undefined;
  try {
    if (statSync(path).isDirectory()) return openFailure(path, { code: "EISDIR" });
    closeSync(openSync(path, "r"));
    return undefined;
  } catch (err) {
    return openFailure(path, err);
  }
}
