/** Small composite values: `error_log`, `ssl_session_cache`, `user`, `worker_processes`. */

import { LOG_LEVELS, type LogLevel, type LogTarget, type SessionCacheSpec } from "../model.ts";
import { ValueError } from "../errors.ts";
import { formatSize, parseNumber, parseSize } from "../units.ts";
import { isSyslogTarget, parseSyslogTarget } from "./syslog_target.ts";

/** `error_log FILE [LEVEL] [json]`; the level defaults to `error`. */
export function parseErrorLog(args: string[]): LogTarget {
  const target: LogTarget = { path: args[0]!, level: "error", json: false };
  checkSyslogTarget(target.path);
  let sawLevel = false;
  for (const word of args.slice(1)) {
    if (word === "json" && !target.json) target.json = true;
    else if (!sawLevel && (LOG_LEVELS as readonly string[]).includes(word)) {
      target.level = word as LogLevel;
      sawLevel = true;
    } else throw new ValueError("invalid_value", `invalid log level "${word}"`);
  }
  return target;
}

/** A `syslog:` target of error_log or access_log, checked as nginx checks it when it reads the configuration. */
export function checkSyslogTarget(path: string): void {
  if (!isSyslogTarget(path)) return;
  const target = parseSyslogTarget(path);
  if ("error" in target) throw new ValueError("invalid_value", target.error);
}

export function formatErrorLog(target: LogTarget): string[] {
  const args = [target.path];
  if (target.level !== "error") args.push(target.level);
  if (target.json) args.push("json");
  return args;
}

/** nginx's smallest shared cache: 8 pages of 4 KiB. */
const MIN_SHARED_CACHE = 8 * 4096;
const DEFAULT_BUILTIN_SESSIONS = 20480;

/**
 * `ssl_session_cache off | none | [builtin[:size]] [shared:name:size]`. A repeated
 * directive overwrites the parameters it names and keeps the others (nginx behaviour).
 */
export function parseSessionCache(args: string[], previous: SessionCacheSpec | undefined): SessionCacheSpec {
  let spec: SessionCacheSpec = previous?.mode === "cache" ? { ...previous } : { mode: "none" };
  for (const arg of args) {
    const invalid = () => new ValueError("session_cache", `invalid session cache "${arg}"`);
    if (arg === "off" || arg === "none") {
      spec = { mode: arg };
    } else if (arg === "builtin") {
      spec = { ...spec, mode: "cache", builtin: DEFAULT_BUILTIN_SESSIONS };
    } else if (arg.startsWith("builtin:")) {
      const n = parseNumber(arg.slice(8));
      if (n === null) throw invalid();
      spec = { ...spec, mode: "cache", builtin: n };
    } else if (arg.startsWith("shared:")) {
      const rest = arg.slice(7);
      const colon = rest.lastIndexOf(":");
      if (colon <= 0) throw invalid();
      const size = parseSize(rest.slice(colon + 1));
      if (size === null) throw invalid();
      if (size < MIN_SHARED_CACHE) throw new ValueError("session_cache", `session cache "${arg}" is too small`);
      spec = { ...spec, mode: "cache", shared: { name: rest.slice(0, colon), size } };
    } else {
      throw invalid();
    }
  }
  return spec;
}

export function formatSessionCache(spec: SessionCacheSpec): string[] {
  if (spec.mode !== "cache") return [spec.mode];
  const args: string[] = [];
  if (spec.builtin !== undefined) args.push(`builtin:${spec.builtin}`);
  if (spec.shared) args.push(`shared:${spec.shared.name}:${formatSize(spec.shared.size)}`);
  return args;
}

/** `worker_processes N | auto`. */
export function parseWorkerProcesses(value: string): number | "auto" {
  if (value === "auto") return "auto";
  const n = parseNumber(value);
  if (n === null) throw new ValueError("invalid_value", "invalid value", true);
  return n;
}
