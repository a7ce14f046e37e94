/** Small helpers shared by the config tests. */

import { ConfigError } from "../../src/config/errors.ts";
import { loadConfigText, type LoadResult } from "../../src/config/load.ts";

export const FILE = "/cfg/m.conf";

/** Loads nginx text named /cfg/m.conf. */
export function load(text: string): LoadResult {
  return loadConfigText(text, FILE);
}

/** A one-line mail block with one IMAP server; `inServer` goes inside the server. */
export function oneServer(inServer: string, inMail = ""): string {
  return `mail { auth_http 127.0.0.1:9000; ${inMail} server { listen 143; ${inServer} } }`;
}

/** The full message of the ConfigError that loading `text` throws (fails if none). */
export function errorOf(text: string, fileName = FILE): string {
  try {
    loadConfigText(text, fileName);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  throw new Error(`expected a ConfigError for: ${text}`);
}

/** Warnings as `message in file:line` lines. */
export function warningsOf(text: string, fileName = FILE): string[] {
  return loadConfigText(text, fileName).warnings.map((w) =>
    w.path !== undefined ? `${w.file}: ${w.path}: ${w.message}` : `${w.message} in ${w.file}:${w.line}`
  );
}
