/**
 * The TOML spelling of a configuration (spec/toml.md) → statements for interpret.ts.
 *
 * Keys are directive names; the top level holds main-context directives, `[events]`,
 * `[mail]` and `[[mail.server]]` the blocks. Each TOML value is turned into the nginx
 * words the same directive would have, so the directive table validates both formats
 * identically: `true` → `on`, an integer time → that many seconds (nginx's bare number),
 * an integer size → bytes, arrays → repeated directives or word lists. Places are TOML
 * key paths (`mail.server[2].listen[0]`); errors read `FILE: PATH: message`.
 */

import { parse, TomlError } from "smol-toml";
import { ConfigError, type Loc } from "./errors.ts";
import type { Statement } from "./statement.ts";
import { type Context, directive, type Directive } from "./directives.ts";

type TomlTable = Record<string, unknown>;

function isTable(v: unknown): v is TomlTable {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

function describe(v: unknown): string {
  if (Array.isArray(v)) return "an array";
  if (isTable(v)) return "a table";
  if (v instanceof Date) return "a date";
  if (typeof v === "string") return `a string ${JSON.stringify(v)}`;
  if (typeof v === "number") return Number.isInteger(v) ? `an integer ${v}` : `a float ${v}`;
  return `a ${typeof v} ${String(v)}`;
}

function typeError(at: Loc, expected: string, got: unknown): ConfigError {
  return new ConfigError("toml_type", `expected ${expected}, got ${describe(got)}`, at);
}

const sub = (at: Loc, key: string | number): Loc => ({
  ...at,
  path: typeof key === "number" ? `${at.path}[${key}]` : at.path ? `${at.path}.${key}` : key,
});

const words = (s: string) => s.split(/\s+/).filter((w) => w !== "");

/** Parses TOML text; syntax errors carry the parser's line and column. */
function parseTomlText(text: string, file: string): TomlTable {
  try {
    return parse(text) as TomlTable;
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0]!;
      throw new ConfigError("toml_syntax", `${first} (column ${e.column})`, { file, line: e.line });
    }
    throw e;
  }
}

/** TOML text → statements of the given context (`main` for a whole file). */
export function tomlToStatements(text: string, file: string, ctx: Context = "main"): Statement[] {
  return tableStatements(parseTomlText(text, file), ctx, { file, line: 0, path: "" });
}

function tableStatements(table: TomlTable, ctx: Context, at: Loc): Statement[] {
  const out: Statement[] = [];
  for (const [key, value] of Object.entries(table)) {
    const here = sub(at, key);
    if (key === "include") {
      const patterns = Array.isArray(value) ? value : [value];
      patterns.forEach((p, i) => {
        const pat = Array.isArray(value) ? sub(here, i) : here;
        if (typeof p !== "string") throw typeError(pat, "a file name or glob", p);
        out.push({ name: "include", args: [p], at: pat });
      });
      continue;
    }
    const d = directive(key, ctx);
    if (!d || !d.contexts.includes(ctx)) {
      // Let the interpreter word it ("unknown directive" / "not allowed here" / ignored).
      out.push({ name: key, args: [], at: here, ...(isTable(value) ? { block: [] } : {}) });
      continue;
    }
    out.push(...valueStatements(d, value, here));
  }
  return out;
}

/** One table key → the statements the nginx form would have. */
function valueStatements(d: Directive, value: unknown, at: Loc): Statement[] {
  const one = (args: string[], where: Loc = at): Statement => ({ name: d.name, args, at: where });
  /** Arrays are repeats: one statement per element, each with its own index in the path. */
  const each = (convert: (v: unknown, where: Loc) => string[]): Statement[] =>
    Array.isArray(value) ? value.map((v, i) => one(convert(v, sub(at, i)), sub(at, i))) : [one(convert(value, at))];

  switch (d.kind) {
    case "block":
      if (d.name === "server") {
        if (!Array.isArray(value) || !value.every(isTable)) {
          throw typeError(at, "an array of tables ([[mail.server]])", value);
        }
        return value.map((t, i) => ({
          name: "server",
          args: [],
          at: sub(at, i),
          block: tableStatements(t as TomlTable, "server", sub(at, i)),
        }));
      }
      if (!isTable(value)) throw typeError(at, "a table", value);
      if (d.name === "upstream") {
        // [mail.upstream.NAME]: one table per pool, keyed by its name.
        return Object.entries(value).map(([name, t]) => {
          const where = sub(at, name);
          if (!isTable(t)) throw typeError(where, "a table ([mail.upstream.NAME])", t);
          return { name: "upstream", args: [name], at: where, block: tableStatements(t, "upstream", where) };
        });
      }
      return [{ name: d.name, args: [], at, block: tableStatements(value, d.name as Context, at) }];
    case "noargs":
      if (typeof value === "boolean") return value ? [one([])] : [];
      throw typeError(at, "a boolean", value);
    case "flag":
      if (typeof value === "boolean") return [one([value ? "on" : "off"])];
      if (typeof value === "string") return [one([value])];
      throw typeError(at, "a boolean", value);
    case "time-ms":
    case "time-s":
    case "size":
      if (typeof value === "string") return [one([value])];
      if (typeof value === "number" && Number.isInteger(value) && value >= 0) return [one([String(value)])];
      throw typeError(
        at,
        d.kind === "size" ? 'a size such as "16k" or an integer of bytes' : 'a time such as "30s" or an integer of seconds',
        value,
      );
    case "number":
    case "workers":
      if (typeof value === "number" && Number.isInteger(value) && value >= 0) return [one([String(value)])];
      if (d.kind === "workers" && value === "auto") return [one(["auto"])];
      throw typeError(at, d.kind === "workers" ? 'an integer or "auto"' : "an integer", value);
    case "string":
    case "enum":
    case "auth_http":
      if (d.repeat === "append") {
        return each((v, where) => {
          if (typeof v !== "string") throw typeError(where, "a string", v);
          return [v];
        });
      }
      if (typeof value === "string") return [one([value])];
      throw typeError(at, "a string", value);
    case "words":
    case "methods":
      if (typeof value === "string") return [one([value])];
      if (Array.isArray(value) && value.length > 0 && value.every((v) => typeof v === "string")) {
        return [one(value as string[])];
      }
      throw typeError(at, "a non-empty array of strings", value);
    case "pair":
      if (!Array.isArray(value)) throw typeError(at, "an array of [name, value] pairs", value);
      return each((v, where) => {
        if (!Array.isArray(v) || v.length !== 2 || !v.every((x) => typeof x === "string")) {
          throw typeError(where, "a [name, value] pair of strings", v);
        }
        return v as string[];
      });
    case "listen":
      return each((v, where) => {
        if (typeof v === "string") return words(v);
        if (isTable(v)) return listenTableArgs(v, where);
        throw typeError(where, "a listen string or table", v);
      });
    case "error_log":
      return each((v, where) => {
        if (typeof v === "string") return words(v);
        if (isTable(v)) return errorLogTableArgs(v, where);
        throw typeError(where, "a log string or table", v);
      });
    case "resolver":
      if (value === false) return [one(["off"])];
      if (typeof value === "string") return [one(words(value))];
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return [one(value as string[])];
      if (isTable(value)) return [one(resolverTableArgs(value, at))];
      throw typeError(at, "false, a string, an array of strings or a table", value);
    case "session_cache":
    case "user":
      if (d.repeat === "append" && Array.isArray(value)) {
        return each((v, where) => {
          if (typeof v !== "string") throw typeError(where, "a string", v);
          return words(v);
        });
      }
      if (typeof value === "string") return [one(words(value))];
      if (Array.isArray(value) && value.every((v) => typeof v === "string")) return [one(value as string[])];
      throw typeError(at, "a string", value);
  }
}

function checkKeys(table: TomlTable, allowed: readonly string[], at: Loc, what: string): void {
  for (const key of Object.keys(table)) {
    if (!allowed.includes(key)) throw new ConfigError("toml_type", `unknown ${what} key "${key}"`, sub(at, key));
  }
}

function need<T>(table: TomlTable, key: string, at: Loc, check: (v: unknown) => v is T, expected: string): T | undefined {
  const v = table[key];
  if (v === undefined) return undefined;
  if (!check(v)) throw typeError(sub(at, key), expected, v);
  return v;
}
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isString = (v: unknown): v is string => typeof v === "string";
const isInt = (v: unknown): v is number => typeof v === "number" && Number.isInteger(v);
const isSizeOrInt = (v: unknown): v is string | number => isString(v) || isInt(v);
const isBoolOrString = (v: unknown): v is boolean | string => isBool(v) || isString(v);

const LISTEN_FLAGS = ["ssl", "proxy_protocol", "bind", "multipath", "default_server"] as const;

/** `{ address = "0.0.0.0:993", ssl = true, backlog = 511 }` → `["0.0.0.0:993", "ssl", "backlog=511"]`. */
function listenTableArgs(t: TomlTable, at: Loc): string[] {
  checkKeys(t, ["address", ...LISTEN_FLAGS, "backlog", "rcvbuf", "sndbuf", "ipv6only", "so_keepalive"], at, "listen");
  const address = need(t, "address", at, isString, "a string");
  if (address === undefined) throw new ConfigError("toml_type", 'listen table needs an "address"', at);
  const args = [address];
  for (const flag of LISTEN_FLAGS) if (need(t, flag, at, isBool, "a boolean")) args.push(flag);
  const backlog = need(t, "backlog", at, isInt, "an integer");
  if (backlog !== undefined) args.push(`backlog=${backlog}`);
  for (const key of ["rcvbuf", "sndbuf"]) {
    const v = need(t, key, at, isSizeOrInt, 'a size such as "64k" or an integer');
    if (v !== undefined) args.push(`${key}=${v}`);
  }
  const ipv6only = need(t, "ipv6only", at, isBool, "a boolean");
  if (ipv6only !== undefined) args.push(`ipv6only=${ipv6only ? "on" : "off"}`);
  const keepalive = need(t, "so_keepalive", at, isBoolOrString, 'a boolean or "idle:intvl:cnt"');
  if (keepalive !== undefined) {
    args.push(`so_keepalive=${typeof keepalive === "boolean" ? (keepalive ? "on" : "off") : keepalive}`);
  }
  return args;
}

/** `{ file = "stderr", level = "info", json = true }` → `["stderr", "info", "json"]`. */
function errorLogTableArgs(t: TomlTable, at: Loc): string[] {
  checkKeys(t, ["file", "level", "json"], at, "error_log");
  const file = need(t, "file", at, isString, "a string");
  if (file === undefined) throw new ConfigError("toml_type", 'error_log table needs a "file"', at);
  const args = [file];
  const level = need(t, "level", at, isString, "a string");
  if (level !== undefined) args.push(level);
  if (need(t, "json", at, isBool, "a boolean")) args.push("json");
  return args;
}

/** `{ addresses = ["127.0.0.1"], valid = "30s", ipv6 = false }` → resolver words. */
function resolverTableArgs(t: TomlTable, at: Loc): string[] {
  checkKeys(t, ["addresses", "valid", "ipv4", "ipv6"], at, "resolver");
  const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every(isString);
  const args = [...(need(t, "addresses", at, isStrings, "an array of strings") ?? [])];
  const valid = need(t, "valid", at, isSizeOrInt, 'a time such as "30s" or an integer of seconds');
  if (valid !== undefined) args.push(`valid=${valid}`);
  for (const key of ["ipv4", "ipv6"]) {
    const v = need(t, key, at, isBool, "a boolean");
    if (v !== undefined) args.push(`${key}=${v ? "on" : "off"}`);
  }
  return args;
}
