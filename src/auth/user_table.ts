/**
 * The user table of `auth_file PATH` (docs/auth.md): who may log in, with what
 * password, and which backend serves each protocol. Two spellings:
 *
 *   passwd-style (any file name):        TOML (a name ending in `.toml`):
 *     # user:password[:backends]           [[user]]
 *     alice@example.com:$6$s$h...:imap=10.0.0.5:143 pop3=10.0.0.5:110
 *     *@example.org:{plain}pw              name = "alice@example.com"
 *                                          password = "$6$s$h..."
 *                                          imap = "10.0.0.5:143"
 *
 * Parsing is pure apart from reading the file; errors name FILE:LINE.
 */
import fs from "node:fs";
import { parse as parseToml, TomlError } from "smol-toml";
import type { Protocol } from "../config/model.ts";
import { parseProxyPass } from "../config/values/urls.ts";
import { ValueError } from "../config/errors.ts";
import { parseStoredPassword, type StoredPassword } from "./password_hash.ts";
import { PassthroughAuth } from "./passthrough.ts";

export interface Backend {
  host: string;
  port: number;
}

export interface UserEntry {
  /** An exact user name, or `*@domain`. */
  name: string;
  password: StoredPassword;
  /** Backends per protocol; a protocol without one uses the server's `proxy_pass`. */
  backends: Partial<Record<Protocol, Backend>>;
  /** Where the entry was written, for messages. */
  line: number;
}

class UserTableError extends Error {
  constructor(message: string, readonly file: string, readonly line: number) {
    super(line > 0 ? `${message} in ${file}:${line}` : `${message} in ${file}`);
    this.name = "UserTableError";
  }
}

export class UserTable {
  private readonly exact = new Map<string, UserEntry>();
  /** `*@domain` entries by lower-case domain. */
  private readonly domains = new Map<string, UserEntry>();

  constructor(readonly file: string, entries: UserEntry[]) {
    for (const entry of entries) {
      const domain = domainPattern(entry.name);
      const map = domain === null ? this.exact : this.domains;
      const key = domain ?? entry.name;
      const earlier = map.get(key);
      if (earlier) throw new UserTableError(`duplicate user "${entry.name}" (first at line ${earlier.line})`, file, entry.line);
      map.set(key, entry);
    }
  }

  get size(): number {
    return this.exact.size + this.domains.size;
  }

  /**
   * The entry for a user name: an exact entry first, then `*@domain`.
   * @example table.lookup("bob@example.org") // the "*@example.org" entry
   */
  lookup(user: string): UserEntry | undefined {
    const exact = this.exact.get(user);
    if (exact) return exact;
    const at = user.lastIndexOf("@");
    if (at <= 0) return undefined;
    return this.domains.get(user.slice(at + 1).toLowerCase());
  }
}

/** `*@domain` → the lower-case domain; other names → null. Other wildcards are refused at parse time. */
function domainPattern(name: string): string | null {
  return name.startsWith("*@") ? name.slice(2).toLowerCase() : null;
}

const PROTOCOLS: readonly Protocol[] = ["imap", "pop3", "smtp", "sieve"];

/** Read and check a user table file. Throws UserTableError. */
export function loadUserTable(file: string): UserTable {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new UserTableError(`cannot read user table (${code})`, file, 0);
  }
  // TOML is UTF-8 text; passwd-style lines are taken byte for byte, like the protocol data.
  const entries = file.toLowerCase().endsWith(".toml")
    ? parseTomlTable(bytes.toString("utf8"), file)
    : parsePasswdTable(bytes.toString("latin1"), file);
  return new UserTable(file, entries);
}

function checkName(name: string, file: string, line: number): void {
  if (name === "") throw new UserTableError("empty user name", file, line);
  const wildcard = name.includes("*");
  if (wildcard && !/^\*@[^*@\s]+$/.test(name)) {
    throw new UserTableError(`invalid user pattern "${name}", only "*@domain" is allowed`, file, line);
  }
  if (/[\s\0]/.test(name)) throw new UserTableError(`invalid user name "${name}"`, file, line);
}

function checkBackend(protocol: string, value: string, file: string, line: number): Backend {
  try {
    return PassthroughAuth.parseTarget(parseProxyPass(value));
  } catch (err) {
    const reason = err instanceof ValueError || err instanceof Error ? err.message : String(err);
    throw new UserTableError(`invalid ${protocol} backend "${value}": ${reason}`, file, line);
  }
}

function checkPassword(name: string, value: string, file: string, line: number): StoredPassword {
  const parsed = parseStoredPassword(value);
  if (typeof parsed === "string") throw new UserTableError(`${parsed} for user "${name}"`, file, line);
  return parsed;
}

/** `name:password[:imap=host:port pop3=host:port smtp=host:port sieve=host:port]`, `#` comments, blank lines. */
export function parsePasswdTable(text: string, file: string): UserEntry[] {
  const entries: UserEntry[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = i + 1;
    const content = raw.replace(/\r$/, "");
    if (content.trim() === "" || content.trimStart().startsWith("#")) return;
    const first = content.indexOf(":");
    if (first < 0) throw new UserTableError('expected "user:password[:backends]"', file, line);
    const name = content.slice(0, first).trim();
    checkName(name, file, line);
    const rest = content.slice(first + 1);
    const second = rest.indexOf(":");
    const password = second < 0 ? rest : rest.slice(0, second);
    const extra = second < 0 ? "" : rest.slice(second + 1).trim();
    const backends: UserEntry["backends"] = {};
    for (const field of extra === "" ? [] : extra.split(/\s+/)) {
      const eq = field.indexOf("=");
      const key = eq < 0 ? field : field.slice(0, eq);
      if (eq < 0 || !PROTOCOLS.includes(key as Protocol)) {
        throw new UserTableError(`unknown field "${field}", expected imap=, pop3=, smtp= or sieve=`, file, line);
      }
      if (backends[key as Protocol]) throw new UserTableError(`duplicate field "${key}"`, file, line);
      backends[key as Protocol] = checkBackend(key, field.slice(eq + 1), file, line);
    }
    entries.push({ name, password: checkPassword(name, password, file, line), backends, line });
  });
  return entries;
}

/** `[[user]]` tables with `name`, `password` and optional `imap`, `pop3`, `smtp`, `sieve`. */
export function parseTomlTable(text: string, file: string): UserEntry[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const line = err instanceof TomlError ? err.line : 0;
    const first = (err as Error).message.split("\n")[0];
    throw new UserTableError(`invalid TOML: ${first}`, file, line);
  }
  // TOML values carry no positions: the n-th `[[user]]` header is the n-th entry's line.
  const headerLines: number[] = [];
  text.split("\n").forEach((l, i) => {
    if (/^\s*\[\[\s*user\s*\]\]/.test(l)) headerLines.push(i + 1);
  });
  for (const key of Object.keys(doc)) {
    if (key !== "user") throw new UserTableError(`unknown key "${key}", expected [[user]] tables`, file, 0);
  }
  const users = doc.user ?? [];
  if (!Array.isArray(users)) throw new UserTableError('"user" must be an array of tables ([[user]])', file, 0);
  return users.map((u, i) => {
    const line = headerLines[i] ?? 0;
    if (typeof u !== "object" || u === null || Array.isArray(u)) throw new UserTableError("[[user]] must be a table", file, line);
    const table = u as Record<string, unknown>;
    for (const key of Object.keys(table)) {
      if (!["name", "password", ...PROTOCOLS].includes(key)) throw new UserTableError(`unknown key "${key}" in [[user]]`, file, line);
    }
    const str = (key: string, required: boolean): string | undefined => {
      const v = table[key];
      if (v === undefined && !required) return undefined;
      if (typeof v !== "string") throw new UserTableError(`"${key}" must be a string`, file, line);
      return v;
    };
    // TOML text is UTF-8; the proxy compares binary strings (one char per byte).
    const bytes = (s: string) => Buffer.from(s, "utf8").toString("latin1");
    const name = bytes(str("name", true)!);
    checkName(name, file, line);
    const backends: UserEntry["backends"] = {};
    for (const protocol of PROTOCOLS) {
      const v = str(protocol, false);
      if (v !== undefined) backends[protocol] = checkBackend(protocol, v, file, line);
    }
    return { name, password: checkPassword(name, bytes(str("password", true)!), file, line), backends, line };
  });
}
