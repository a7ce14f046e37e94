/**
 * THE directive table. One entry per directive mailproxy understands, and from it:
 * validation (contexts, argument counts, value parsing, repeat rules) in interpret.ts,
 * defaults in effective.ts, the TOML shapes in toml.ts, both writers, and the markdown
 * reference in docs/config.md (reference.ts).
 *
 * Values are stored in model units (model.ts): times in ms (except where the model says
 * seconds), sizes in bytes, enumerations lower-cased.
 */

import { hostname } from "node:os";
import { methodsOf } from "../protocols/mechanisms.ts";
import { isHeaderName, isHeaderValue } from "../wire/http.ts";
import type { Protocol, ResolverSpec, SessionCacheSpec } from "./model.ts";
import { ValueError } from "./errors.ts";
import { formatSize, formatTimeMs, formatTimeSec, parseNumber, parseSize, parseTime } from "./units.ts";
import { formatListen, parseListen, type ValueContext } from "./values/listen.ts";
import { parseAuthHttpUrl, parseProxyPass } from "./values/urls.ts";
import { formatResolver, parseResolver } from "./values/resolver.ts";
import { formatLimitConn, formatLimitLogin, parseLimitConn, parseLimitLogin, parseLimitStore } from "./values/limits.ts";
import {
  checkSyslogTarget,
  formatErrorLog,
  formatSessionCache,
  parseErrorLog,
  parseSessionCache,
  parseWorkerProcesses,
} from "./values/misc.ts";
import type { PathBase } from "./paths.ts";
import { parseCidr } from "./values/cidr.ts";
import {
  formatHash,
  formatHealthCheck,
  formatStickyStore,
  formatUpstreamServer,
  parseHash,
  parseHealthCheck,
  parseStickyStore,
  parseUpstreamServer,
  UPSTREAM_NAME,
} from "./values/upstream.ts";
import type { HashSpec, HealthCheckSpec, StickyStoreSpec, UpstreamServerSpec } from "./model.ts";
import type { AuthHttpCacheSpec, AuthHttpSpec, LimitConnSpec, LimitLoginSpec, ListenSpec, LogTarget, Source } from "./model.ts";

/** Where a directive may appear: top level, `events {}`, `mail {}`, `server {}`, `upstream NAME {}`. */
export type Context = "main" | "events" | "mail" | "server" | "upstream";

/** What the value is; decides the TOML type and the reference's "Value" column. */
export type ValueKind =
  | "block"
  | "flag"
  /** No arguments (`least_conn;`); TOML `true`. */
  | "noargs"
  | "time-ms"
  | "time-s"
  | "size"
  | "number"
  | "string"
  | "enum"
  | "words"
  | "methods"
  | "pair"
  | "listen"
  | "resolver"
  | "error_log"
  | "session_cache"
  | "auth_http"
  | "workers"
  | "user";

/**
 * What repeating the directive at one level does (directives.md §3):
 * `duplicate` → error; `append` → lists concatenate; `or` → methods united, a repeated
 * method is a `duplicate value` warning; `last` → last one wins; `merge` → later
 * parameters overwrite earlier ones.
 */
export type RepeatRule = "duplicate" | "append" | "or" | "last" | "merge";

export interface ParseContext extends ValueContext {
  /** The value already set at this level (for `merge`). */
  previous: unknown;
  /** Every value set so far at this level, by directive name (for nginx's conflict checks). */
  level: Readonly<Record<string, unknown>>;
  source: Source;
}

export interface Directive {
  name: string;
  module: string;
  contexts: readonly Context[];
  /** Argument count bounds, nginx's TAKE1/TAKE12/1MORE/FLAG/NOARGS. */
  args: readonly [min: number, max: number];
  kind: ValueKind;
  repeat: RepeatRule;
  /** Stored on the block itself (`ServerBlock.listen`, `.protocol`) rather than its settings. */
  onBlock?: boolean;
  syntax: string;
  /** Built-in default in model units; absent = no default (optional after inheritance). */
  default?: () => unknown;
  /** The default as an nginx user would write it, for the reference. */
  defaultText: string;
  /** Allowed words of an enum or method list (lower case, except ssl_protocols). */
  values?: readonly string[];
  since?: string;
  doc: string;
  /** Beyond nginx (a mailproxy addition). */
  extension?: boolean;
  /** The first argument names a file; a relative one is resolved against this base (paths.ts). */
  file?: PathBase;
  /** Arguments (count already checked) → one occurrence's value. Throws ValueError. */
  parse(args: string[], ctx: ParseContext): unknown;
  /** A level's whole value → the argument lists of the directives that write it. */
  format(value: unknown): string[][];
}

type Spec = Omit<Directive, "parse" | "format" | "repeat" | "defaultText"> & {
  parse?: Directive["parse"];
  format?: Directive["format"];
  repeat?: RepeatRule;
  defaultText?: string;
};

const MS = ["mail", "server"] as const;
/** Files of the TLS and user-table directives: relative to the main configuration file's folder. */
const CONF_FILE = { file: "conf" } as const;
const INF = Number.POSITIVE_INFINITY;

const invalidValue = () => new ValueError("invalid_value", "invalid value", true);

function define(spec: Spec): Directive {
  return {
    repeat: "duplicate",
    defaultText: "—",
    parse: (args) => args[0],
    format: (value) => [[String(value)]],
    ...spec,
  };
}

function parseFlag(name: string, v: string): boolean {
  const lower = v.toLowerCase();
  if (lower === "on") return true;
  if (lower === "off") return false;
  throw new ValueError("invalid_flag", `invalid value "${v}" in "${name}" directive, it must be "on" or "off"`);
}

function parseEnum<T extends string>(values: readonly T[], v: string): T {
  const lower = v.toLowerCase();
  if (!(values as readonly string[]).includes(lower)) throw new ValueError("invalid_value", `invalid value "${v}"`);
  return lower as T;
}

function flag(name: string, module: string, def: boolean, doc: string, extra: Partial<Spec> = {}): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: "flag",
    syntax: `${name} on | off`,
    default: () => def,
    defaultText: def ? "on" : "off",
    doc,
    parse: ([v]) => parseFlag(name, v!),
    format: (value) => [[value ? "on" : "off"]],
    ...extra,
  });
}

function time(
  name: string,
  module: string,
  flavour: "ms" | "s",
  defaultText: string | undefined,
  doc: string,
  extra: Partial<Spec> = {},
): Directive {
  // Model times are milliseconds; a second-resolution parse is scaled up.
  const toMs = (text: string) => {
    const t = parseTime(text, flavour);
    if (t === null) throw invalidValue();
    return flavour === "s" ? t * 1000 : t;
  };
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: flavour === "ms" ? "time-ms" : "time-s",
    syntax: `${name} time`,
    ...(defaultText === undefined ? {} : { default: () => toMs(defaultText), defaultText }),
    doc,
    parse: ([v]) => toMs(v!),
    format: (value) => [[flavour === "s" ? formatTimeSec((value as number) / 1000) : formatTimeMs(value as number)]],
    ...extra,
  });
}

function size(name: string, module: string, def: number, doc: string): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: "size",
    syntax: `${name} size`,
    default: () => def,
    defaultText: formatSize(def),
    doc,
    parse: ([v]) => {
      const n = parseSize(v!);
      if (n === null) throw invalidValue();
      return n;
    },
    format: (value) => [[formatSize(value as number)]],
  });
}

function number(name: string, module: string, def: number | undefined, doc: string, extra: Partial<Spec> = {}): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: "number",
    syntax: `${name} number`,
    ...(def === undefined ? {} : { default: () => def, defaultText: String(def) }),
    doc,
    parse: ([v]) => {
      const n = parseNumber(v!);
      if (n === null) throw new ValueError("invalid_number", "invalid number", true);
      return n;
    },
    ...extra,
  });
}

function string(name: string, module: string, doc: string, extra: Partial<Spec> = {}): Directive {
  return define({ name, module, contexts: MS, args: [1, 1], kind: "string", syntax: `${name} value`, doc, ...extra });
}

/** A string directive whose repeats append (`ssl_certificate`, `set_real_ip_from`, ...). */
function stringList(name: string, module: string, syntax: string, doc: string, extra: Partial<Spec> = {}): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: "string",
    repeat: "append",
    syntax,
    default: () => [],
    doc,
    parse: ([v]) => [v],
    format: (value) => (value as string[]).map((v) => [v]),
    ...extra,
  });
}

/**
 * An auth_http_header line as the auth request's encoder will take it (src/wire/http.ts):
 * refused here, at its line, rather than failing every login later.
 */
function checkHeader(name: string, value: string): void {
  if (!isHeaderName(name)) throw new ValueError("invalid_value", `invalid header name "${name}"`);
  if (!isHeaderValue(value)) throw new ValueError("invalid_value", `invalid header value for "${name}": control character`);
}

function pairList(
  name: string,
  module: string,
  syntax: string,
  doc: string,
  since?: string,
  check: (name: string, value: string) => void = () => {},
): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [2, 2],
    kind: "pair",
    repeat: "append",
    syntax,
    default: () => [],
    doc,
    ...(since ? { since } : {}),
    parse: ([a, b]) => {
      check(a!, b!);
      return [[a, b]];
    },
    format: (value) => (value as Array<[string, string]>).map(([a, b]) => [a, b]),
  });
}

function enumOf<T extends string>(
  name: string,
  module: string,
  values: readonly T[],
  def: T,
  doc: string,
  extra: Partial<Spec> = {},
): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, 1],
    kind: "enum",
    syntax: `${name} ${values.join(" | ")}`,
    values,
    default: () => def,
    defaultText: def,
    doc,
    parse: ([v]) => parseEnum(values, v!),
    ...extra,
  });
}

/** A method list (`*_auth`, `ssl_protocols`): words from a fixed set, OR-ed on repeat. */
function methods(name: string, module: string, values: readonly string[], def: string[], doc: string, since?: string): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, INF],
    kind: "methods",
    repeat: "or",
    syntax: `${name} ${values.join(" | ")} ...`,
    values,
    default: () => [...def],
    defaultText: def.join(" "),
    doc,
    ...(since ? { since } : {}),
    parse: (args) =>
      args.map((v) => {
        const found = values.find((m) => m.toLowerCase() === v.toLowerCase());
        if (found === undefined) throw new ValueError("invalid_value", `invalid value "${v}"`);
        return found;
      }),
    format: (value) => [value as string[]],
  });
}

function words(name: string, module: string, def: string[], doc: string): Directive {
  return define({
    name,
    module,
    contexts: MS,
    args: [1, INF],
    kind: "words",
    repeat: "append",
    syntax: `${name} extension ...`,
    default: () => [...def],
    defaultText: def.length ? def.join(" ") : "— (empty)",
    doc,
    parse: (args) => [...args],
    format: (value) => [value as string[]],
  });
}

/** `off`, or `valid=TIME [max=N]` in any order. */
function parseAuthHttpCache(args: string[]): AuthHttpCacheSpec | null {
  if (args.length === 1 && args[0]!.toLowerCase() === "off") return null;
  let valid: number | null = null;
  let max = 10000;
  for (const arg of args) {
    if (arg.startsWith("valid=")) valid = parseTime(arg.slice(6), "ms");
    else if (arg.startsWith("max=")) {
      const n = parseNumber(arg.slice(4));
      if (n === null || n < 1) throw new ValueError("invalid_value", `invalid value "${arg}"`);
      max = n;
    } else throw new ValueError("invalid_value", `invalid value "${arg}"`);
  }
  if (valid === null || valid <= 0) throw new ValueError("invalid_value", 'invalid or missing "valid=" value');
  return { valid, max };
}

/** Dovecot Pigeonhole's default `"SIEVE"` capability: the likeliest backend's own list. */
const PIGEONHOLE_EXTENSIONS = [
  "fileinto", "reject", "envelope", "encoded-character", "vacation", "subaddress", "comparator-i;ascii-numeric",
  "relational", "regex", "imap4flags", "copy", "include", "variables", "body", "enotify", "environment", "mailbox",
  "date", "index", "ihave", "duplicate", "mime", "foreverypart", "extracttext",
];

const PROTOCOLS: readonly Protocol[] = ["imap", "pop3", "smtp", "sieve"];
const SSL_PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

/** Every directive, in reference order. */
export const DIRECTIVES: readonly Directive[] = [
  // ---- main context (top level) ----
  define({
    name: "worker_processes",
    module: "main",
    contexts: ["main"],
    args: [1, 1],
    kind: "workers",
    syntax: "worker_processes number | auto",
    default: () => 1,
    defaultText: "1",
    doc: "Number of worker processes.",
    parse: ([v]) => parseWorkerProcesses(v!),
  }),
  define({
    name: "error_log",
    module: "core",
    contexts: ["main", "mail", "server"],
    args: [1, 3],
    kind: "error_log",
    repeat: "append",
    syntax: "error_log file | stderr | syslog:server=address[,parameter=value] [level] [json]",
    file: "prefix",
    default: () => [],
    defaultText: "the top-level log",
    doc: "Log destination and level: a file, `stderr` or `syslog:server=...` (nginx's parameters; UDP or `unix:` datagram socket, tag `nginx` by default). Several may be given, each with its own level; in `mail {}` or `server {}` they replace the top-level log for those sessions. `json` (a mailproxy addition) writes JSON lines.",
    parse: (args) => [parseErrorLog(args)],
    format: (value) => (value as LogTarget[]).map(formatErrorLog),
  }),
  string("pid", "main", "File the master process id is written to.", { contexts: ["main"], syntax: "pid file", file: "prefix" }),
  flag("daemon", "main", false, "Whether to detach from the terminal (mailproxy defaults to off: foreground, as service managers expect).", { contexts: ["main"] }),
  define({
    name: "user",
    module: "main",
    contexts: ["main"],
    args: [1, 2],
    kind: "user",
    syntax: "user user [group]",
    doc: "Credentials the workers run with.",
    parse: ([user, group]) => (group === undefined ? { user } : { user, group }),
    format: (value) => {
      const { user, group } = value as { user: string; group?: string };
      return [group === undefined ? [user] : [user, group]];
    },
  }),
  number("worker_rlimit_nofile", "main", undefined, "Limit on open files per worker.", { contexts: ["main"] }),
  time("worker_shutdown_timeout", "main", "ms", undefined, "How long a graceful shutdown waits for sessions.", {
    contexts: ["main"],
  }),
  string("status_listen", "main", "HTTP listener for Prometheus `/metrics` and JSON `/status` (no authentication: bind it to loopback).", {
    contexts: ["main"],
    syntax: "status_listen address:port",
    extension: true,
  }),
  define({
    name: "status_allow",
    module: "main",
    contexts: ["main"],
    args: [1, 1],
    kind: "string",
    repeat: "append",
    syntax: "status_allow address | CIDR",
    defaultText: "loopback",
    extension: true,
    doc: "Peers allowed the pool operations of `status_listen` (`GET /upstreams`, the `POST`s that drain and move; docs/director.md); repeat it for several. Unset: only loopback (`127.0.0.0/8`, `::1`). Others get 403. `/metrics` and `/status` are not affected.",
    parse: ([v]) => {
      if (!parseCidr(v!)) throw new ValueError("invalid_value", `invalid parameter "${v}"`);
      return [v];
    },
    format: (value) => (value as string[]).map((v) => [v]),
  }),
  define({
    name: "access_log",
    module: "main",
    contexts: ["main"],
    args: [1, 2],
    // words like `user`: TOML takes "FILE" or "FILE json" (or an array) and writes it back the same way
    kind: "user",
    syntax: "access_log file | syslog:server=address[,parameter=value] [json]",
    file: "prefix",
    extension: true,
    doc: "One line per finished session: start, duration, client, server, protocol, login, upstream, bytes each way, TLS version, result. Main context only (in `mail {}` it stays \"not allowed here\", as in nginx).",
    parse: ([path, format]) => {
      if (format !== undefined && format.toLowerCase() !== "json") throw new ValueError("invalid_value", `invalid value "${format}"`);
      checkSyslogTarget(path!);
      return { path: path!, json: format !== undefined };
    },
    format: (value) => {
      const v = value as { path: string; json: boolean };
      return [v.json ? [v.path, "json"] : [v.path]];
    },
  }),
  define({
    name: "events",
    module: "main",
    contexts: ["main"],
    args: [0, 0],
    kind: "block",
    syntax: "events { ... }",
    doc: "Connection processing settings; only `worker_connections` is used.",
  }),
  number("worker_connections", "main", 512, "Maximum simultaneous connections per worker.", { contexts: ["events"] }),
  define({
    name: "mail",
    module: "core",
    contexts: ["main"],
    args: [0, 0],
    kind: "block",
    syntax: "mail { ... }",
    doc: "The mail proxy configuration; at most one.",
  }),

  // ---- ngx_mail_core_module ----
  define({
    name: "server",
    module: "core",
    contexts: ["mail"],
    args: [0, 0],
    kind: "block",
    syntax: "server { ... }",
    doc: "One virtual mail server; needs a `listen`, a protocol and an auth source.",
  }),
  define({
    name: "listen",
    module: "core",
    contexts: ["server"],
    args: [1, INF],
    kind: "listen",
    repeat: "append",
    onBlock: true,
    syntax:
      "listen address[:port] [ssl] [proxy_protocol] [backlog=N] [rcvbuf=size] [sndbuf=size] [bind] [ipv6only=on|off] [multipath] [so_keepalive=on|off|[idle]:[intvl]:[cnt]] [default_server]",
    defaultText: "— (required)",
    doc: "Address and port to accept connections on; `unix:/path` and port ranges allowed.",
    parse: (args, ctx) => [parseListen(args, ctx.source, ctx)],
    format: (value) => (value as ListenSpec[]).map(formatListen),
  }),
  define({
    name: "protocol",
    module: "core",
    contexts: ["server"],
    args: [1, 1],
    kind: "enum",
    repeat: "last",
    onBlock: true,
    values: PROTOCOLS,
    syntax: "protocol imap | pop3 | smtp | sieve",
    defaultText: "from the listen port",
    doc: "Session protocol; autodetected from ports 143/993, 110/995, 25/465/587, 4190 (`sieve`: ManageSieve, beyond nginx).",
    parse: ([v]) => {
      const lower = v!.toLowerCase();
      if (!(PROTOCOLS as readonly string[]).includes(lower)) {
        throw new ValueError("unknown_protocol", `unknown protocol "${v}"`);
      }
      return lower;
    },
  }),
  string("server_name", "core", "The proxy's own name: SMTP greeting/EHLO, APOP/CRAM-MD5 salt.", {
    syntax: "server_name name",
    default: () => hostname().toLowerCase(),
    defaultText: "host name, lower-cased",
  }),
  time("timeout", "core", "ms", "60s", "Pre-authentication deadline, TLS handshake and backend login limit."),
  number("max_errors", "core", 5, "Invalid commands before the session is closed.", { since: "1.21.0" }),
  define({
    name: "resolver",
    module: "core",
    contexts: MS,
    args: [1, INF],
    kind: "resolver",
    syntax: "resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] | off",
    default: () => null,
    defaultText: "off",
    doc: "DNS servers for the SMTP client host name lookup.",
    parse: (args, ctx) => parseResolver(args, ctx),
    format: (value) => [formatResolver(value as ResolverSpec | null)],
  }),
  time("resolver_timeout", "core", "ms", "30s", "Time limit of each DNS lookup."),

  // ---- ngx_mail_auth_http_module ----
  define({
    name: "auth_http",
    module: "auth_http",
    contexts: MS,
    args: [1, INF],
    // words like `user`: TOML takes "URL" or "URL1 URL2" or an array, and writes a string back
    kind: "user",
    syntax: "auth_http URL [URL ...]",
    defaultText: "— (required)",
    doc: "Auth service URL: `[http://]host[:port][/uri]` or `unix:/path[:/uri]`. Beyond nginx: several URLs are tried in turn while one is down (refused, timed out, closed before the headers); any answer is final.",
    parse: (args) => {
      const [first, ...rest] = args.map((v) => parseAuthHttpUrl(v));
      return rest.length === 0 ? first : { ...first, fallbacks: rest };
    },
    format: (value) => {
      const spec = value as AuthHttpSpec;
      return [[spec.url, ...(spec.fallbacks ?? []).map((u) => u.url)]];
    },
  }),
  define({
    name: "auth_http_cache",
    module: "auth_http",
    contexts: MS,
    args: [1, 2],
    kind: "user",
    syntax: "auth_http_cache off | valid=time [max=number]",
    default: () => null,
    defaultText: "off",
    extension: true,
    doc: "Reuse positive auth answers in memory, keyed by a salted hash of user, credentials, method, protocol and client address (docs/auth.md); `max` defaults to 10000.",
    parse: (args) => parseAuthHttpCache(args),
    format: (value) => {
      const spec = value as AuthHttpCacheSpec | null;
      return [spec === null ? ["off"] : [`valid=${formatTimeMs(spec.valid)}`, `max=${spec.max}`]];
    },
  }),
  pairList("auth_http_header", "auth_http", "auth_http_header name value", "Extra header sent with every auth request.", undefined, checkHeader),
  flag("auth_http_pass_client_cert", "auth_http", false, "Send the client certificate in `Auth-SSL-Cert`.", {
    since: "1.7.11",
  }),
  time("auth_http_timeout", "auth_http", "ms", "60s", "Limit for talking to the auth service."),
  number("auth_http_keepalive", "auth_http", 32, "Idle keep-alive connections per auth service; 0 = nginx behaviour.", {
    extension: true,
  }),
  flag("auth_http_extra_headers", "auth_http", false, "Also send `Client-Port`, `Server-IP`, `Server-Port` (docs/auth.md); off keeps the nginx request exactly.", {
    extension: true,
  }),
  define({
    name: "limit_login",
    module: "auth_http",
    contexts: MS,
    args: [2, 5],
    // words like `user`: TOML takes "zone=login per_ip=10 window=10m" (or an array)
    kind: "user",
    syntax: "limit_login zone=name [per_ip=number] [per_user=number] window=time [delay=time]",
    extension: true,
    doc: "Login failures allowed per client IP and per user in a window; over the limit the login is refused with the protocol's temporary failure after `delay` (default 1s) and the auth service is not asked (docs/auth.md).",
    parse: (args) => parseLimitLogin(args),
    format: (value) => [formatLimitLogin(value as LimitLoginSpec)],
  }),
  define({
    name: "limit_conn",
    module: "auth_http",
    contexts: MS,
    args: [1, 1],
    kind: "user",
    syntax: "limit_conn per_ip=number",
    extension: true,
    doc: "Simultaneous connections per client IP to this mailproxy instance; over it the client gets the protocol's refusal line and is closed.",
    parse: (args) => parseLimitConn(args),
    format: (value) => [formatLimitConn(value as LimitConnSpec)],
  }),
  string("limit_store", "auth_http", "Count `limit_login` failures in Redis/Valkey, shared by every instance using it; fails open when unreachable.", {
    syntax: "limit_store redis://host[:port]",
    extension: true,
    parse: ([v]) => parseLimitStore(v!),
  }),

  // ---- ngx_mail_proxy_module ----
  size("proxy_buffer", "proxy", 4096, "Backend→client buffer size."),
  flag("proxy_pass_error_message", "proxy", false, "Forward the backend's login error text to the client."),
  enumOf("proxy_protocol", "proxy", ["on", "off", "v2"], "off", "Send a PROXY protocol header (v1 or v2) to the backend.", {
    since: "1.19.8",
  }),
  flag("proxy_smtp_auth", "proxy", false, "Authenticate to the SMTP backend with AUTH PLAIN.", { since: "1.19.4" }),
  time("proxy_timeout", "proxy", "ms", "24h", "Idle timeout of the relay phase."),
  flag("xclient", "proxy", true, "Send XCLIENT to SMTP backends."),
  flag("proxy", "proxy", false, "Undocumented nginx directive: accepted, no effect."),
  string("proxy_pass", "proxy", "Passthrough backend instead of asking an auth service, or the name of an `upstream` pool (docs/director.md).", {
    contexts: ["server"],
    syntax: "proxy_pass host:port | upstream",
    extension: true,
    // A bare name is an upstream's; interpret.ts checks that it is defined.
    parse: ([v]) => (UPSTREAM_NAME.test(v!) && !/^[0-9.]+$/.test(v!) ? v : parseProxyPass(v!)),
  }),
  string("auth_file", "auth_http", "User table checked before `auth_http` (docs/auth.md); re-read on reload.", {
    syntax: "auth_file path",
    extension: true,
    // The table is read where it is used: by `-t` (cli/host_check.ts) and when the server starts or reloads.
    file: "conf",
  }),

  // ---- backend pools (beyond nginx's mail module; docs/director.md) ----
  define({
    name: "upstream",
    module: "upstream",
    contexts: ["mail"],
    args: [1, 1],
    kind: "block",
    syntax: "upstream name { ... }",
    extension: true,
    doc: "A pool of backends that `proxy_pass name` or `Auth-Server: name` sends logins to, each user kept on one backend.",
  }),
  define({
    name: "server",
    module: "upstream",
    contexts: ["upstream"],
    args: [1, 6],
    kind: "user",
    repeat: "append",
    syntax: "server address:port [weight=number] [max_fails=number] [fail_timeout=time] [backup] [down]",
    defaultText: "— (at least one)",
    extension: true,
    doc: "A backend of the pool. `max_fails` failed connects or login timeouts within `fail_timeout` take it out for `fail_timeout` (nginx: 1 and 10s); `backup` is used only when no other is usable; `down` never.",
    parse: (args) => [parseUpstreamServer(args)],
    format: (value) => (value as UpstreamServerSpec[]).map(formatUpstreamServer),
  }),
  define({
    name: "hash",
    module: "upstream",
    contexts: ["upstream"],
    args: [1, 2],
    kind: "user",
    syntax: "hash $variable [consistent]",
    extension: true,
    doc: "Place a new user by the hash of a variable (`$login`, `$remote_addr`, `$protocol`); `consistent` uses a ring, so adding a backend moves few users. Default: round-robin by weight.",
    parse: (args, ctx) => {
      if (ctx.level.least_conn !== undefined) throw new ValueError("invalid_value", "load balancing method redefined");
      return parseHash(args);
    },
    format: (value) => [formatHash(value as HashSpec)],
  }),
  define({
    name: "least_conn",
    module: "upstream",
    contexts: ["upstream"],
    args: [0, 0],
    kind: "noargs",
    syntax: "least_conn",
    extension: true,
    doc: "Place a new user on the backend with the fewest sessions per weight.",
    parse: (_args, ctx) => {
      if (ctx.level.hash !== undefined) throw new ValueError("invalid_value", "load balancing method redefined");
      return true;
    },
    format: () => [[]],
  }),
  define({
    name: "sticky_store",
    module: "upstream",
    contexts: ["upstream"],
    args: [1, 2],
    kind: "user",
    syntax: "sticky_store redis://host[:port][/db] [ttl=time]",
    defaultText: "— (per host: the process, or the master of its workers)",
    extension: true,
    doc: "Share the user → backend map with every mailproxy using this Redis/Valkey; an assignment lives `ttl` (default 1h) after its last use. A move is published to every member, which closes its own sessions of the user. Unreachable: each instance falls back to the hash ring, logged once.",
    parse: (args) => parseStickyStore(args),
    format: (value) => [formatStickyStore(value as StickyStoreSpec)],
  }),
  define({
    name: "health_check",
    module: "upstream",
    contexts: ["upstream"],
    args: [0, 5],
    kind: "user",
    syntax: "health_check [interval=time] [fails=number] [passes=number] [greeting] [starttls]",
    defaultText: "— (passive only)",
    extension: true,
    doc: "Probe every backend each `interval` (5s): connect, with `greeting` read a positive greeting, with `starttls` also upgrade to TLS. `fails` failed probes in a row take a backend out, `passes` good ones bring it back (1 and 1).",
    parse: (args) => parseHealthCheck(args),
    format: (value) => [formatHealthCheck(value as HealthCheckSpec)],
  }),

  // ---- ngx_mail_realip_module ----
  stringList("set_real_ip_from", "realip", "set_real_ip_from address | CIDR | unix:", "Trusted PROXY protocol peers."),

  // ---- ngx_mail_ssl_module ----
  enumOf("starttls", "ssl", ["on", "off", "only"], "off", "Offer STARTTLS/STLS; `only` requires it before authentication.", {
    parse: (args, ctx) => {
      const value = parseEnum(["on", "off", "only"], args[0]!);
      if (value !== "off" && ctx.level.ssl === true) throw new ValueError("invalid_value", '"ssl" directive conflicts with "starttls"');
      return value;
    },
  }),
  flag("ssl", "ssl", false, "Deprecated since nginx 1.15.0 (removed in 1.25.1): `ssl on` makes every `listen` of the server `listen ... ssl`. Accepted with nginx's warning.", {
    parse: (args, ctx) => {
      const on = parseFlag("ssl", args[0]!);
      if (on && (ctx.level.starttls ?? "off") !== "off") {
        throw new ValueError("invalid_value", '"starttls" directive conflicts with "ssl on"');
      }
      ctx.warn('the "ssl" directive is deprecated, use the "listen ... ssl" directive instead');
      return on;
    },
  }),
  stringList("ssl_certificate", "ssl", "ssl_certificate file", "PEM certificate (chain); repeat for RSA + ECDSA.", CONF_FILE),
  stringList("ssl_certificate_key", "ssl", "ssl_certificate_key file", "PEM private key, paired by order.", CONF_FILE),
  string("ssl_password_file", "ssl", "Passphrases for encrypted keys, one per line.", { syntax: "ssl_password_file file", ...CONF_FILE }),
  flag("ssl_certificate_compression", "ssl", false, "Certificate compression (accepted, may be ignored).", {
    since: "1.29.1",
  }),
  string("ssl_ciphers", "ssl", "OpenSSL cipher list.", {
    syntax: "ssl_ciphers list",
    default: () => "HIGH:!aNULL:!MD5",
    defaultText: "HIGH:!aNULL:!MD5",
  }),
  flag("ssl_prefer_server_ciphers", "ssl", false, "Prefer the server's cipher order."),
  methods("ssl_protocols", "ssl", SSL_PROTOCOLS, ["TLSv1.2", "TLSv1.3"], "Enabled TLS versions."),
  string("ssl_dhparam", "ssl", "DH parameters for DHE ciphers.", { syntax: "ssl_dhparam file", ...CONF_FILE }),
  string("ssl_ecdh_curve", "ssl", "ECDH curves, colon-separated, or `auto`.", {
    syntax: "ssl_ecdh_curve curve[:curve...] | auto",
    default: () => "auto",
    defaultText: "auto",
  }),
  define({
    name: "ssl_session_cache",
    module: "ssl",
    contexts: MS,
    args: [1, 2],
    kind: "session_cache",
    repeat: "merge",
    syntax: "ssl_session_cache off | none | [builtin[:size]] [shared:name:size]",
    default: () => ({ mode: "none" }),
    defaultText: "none",
    doc: "TLS session cache.",
    parse: (args, ctx) => parseSessionCache(args, ctx.previous as SessionCacheSpec | undefined),
    format: (value) => [formatSessionCache(value as SessionCacheSpec)],
  }),
  time("ssl_session_timeout", "ssl", "s", "5m", "Lifetime of cached TLS sessions (second resolution)."),
  flag("ssl_session_tickets", "ssl", true, "TLS session tickets."),
  stringList("ssl_session_ticket_key", "ssl", "ssl_session_ticket_key file", "Ticket key file (48 or 80 bytes).", CONF_FILE),
  enumOf("ssl_verify_client", "ssl", ["on", "off", "optional", "optional_no_ca"], "off", "Client certificate verification.", {
    since: "1.7.11",
  }),
  number("ssl_verify_depth", "ssl", 1, "Client certificate chain depth.", { since: "1.7.11" }),
  string("ssl_client_certificate", "ssl", "CAs for client certificates, advertised to clients.", {
    syntax: "ssl_client_certificate file",
    ...CONF_FILE,
  }),
  string("ssl_trusted_certificate", "ssl", "CAs for client certificates, not advertised.", {
    syntax: "ssl_trusted_certificate file",
    ...CONF_FILE,
  }),
  string("ssl_crl", "ssl", "Revoked certificates.", { syntax: "ssl_crl file", ...CONF_FILE }),
  pairList("ssl_conf_command", "ssl", "ssl_conf_command name value", "OpenSSL SSL_CONF command.", "1.19.4"),

  // ---- TLS to the backend (beyond nginx, whose mail proxy speaks plaintext to backends) ----
  flag("proxy_ssl", "proxy", false, "Implicit TLS to the backend (e.g. port 993/995/465).", { extension: true }),
  flag("proxy_starttls", "proxy", false, "STARTTLS (IMAP, SMTP) or STLS (POP3) to the backend before its login.", {
    extension: true,
  }),
  flag("proxy_ssl_verify", "proxy", false, "Verify the backend's certificate and name.", { extension: true }),
  string("proxy_ssl_trusted_certificate", "proxy", "CAs that verify backend certificates (PEM).", {
    syntax: "proxy_ssl_trusted_certificate file",
    ...CONF_FILE,
    extension: true,
  }),
  string("proxy_ssl_name", "proxy", "Name the backend's certificate is checked against and sent as SNI; default: the backend host.", {
    syntax: "proxy_ssl_name name",
    extension: true,
  }),
  flag("proxy_ssl_server_name", "proxy", false, "Send the name (`proxy_ssl_name`) as SNI to the backend.", { extension: true }),
  string("proxy_ssl_certificate", "proxy", "Client certificate presented to the backend.", {
    syntax: "proxy_ssl_certificate file",
    ...CONF_FILE,
    extension: true,
  }),
  string("proxy_ssl_certificate_key", "proxy", "Key of `proxy_ssl_certificate`.", {
    syntax: "proxy_ssl_certificate_key file",
    ...CONF_FILE,
    extension: true,
  }),
  { ...methods("proxy_ssl_protocols", "proxy", SSL_PROTOCOLS, ["TLSv1.2", "TLSv1.3"], "TLS versions towards the backend."), extension: true },
  string("proxy_ssl_ciphers", "proxy", "OpenSSL cipher list towards the backend.", {
    syntax: "proxy_ssl_ciphers list",
    default: () => "DEFAULT",
    defaultText: "DEFAULT",
    extension: true,
  }),

  // ---- ngx_mail_imap_module ----
  methods("imap_auth", "imap", methodsOf("imap"), ["plain"], "IMAP methods advertised/allowed."),
  words("imap_capabilities", "imap", ["IMAP4", "IMAP4rev1", "UIDPLUS"], "Base IMAP CAPABILITY words."),
  size("imap_client_buffer", "imap", 4096, "Maximum IMAP command size, literals included."),
  flag("imap_id", "imap", false, "Accept `ID` before login (answered `* ID NIL`, the client's fields kept for `proxy_imap_id`); off = nginx, a syntax error.", {
    extension: true,
  }),
  flag("proxy_imap_id", "imap", false, "Send `ID` with the client's fields plus `x-originating-ip`/`-port`, `x-connected-ip`/`-port` before the backend LOGIN (Dovecot trusts them from `login_trusted_networks`).", {
    extension: true,
  }),

  // ---- ngx_mail_pop3_module ----
  methods("pop3_auth", "pop3", methodsOf("pop3"), ["plain"], "POP3 methods advertised/allowed."),
  words("pop3_capabilities", "pop3", ["TOP", "USER", "UIDL"], "POP3 CAPA lines."),

  // ---- ngx_mail_smtp_module ----
  methods("smtp_auth", "smtp", methodsOf("smtp"), ["plain", "login"], "SMTP methods advertised/allowed; `none` allows no auth."),
  words("smtp_capabilities", "smtp", [], "Extra EHLO lines."),
  size("smtp_client_buffer", "smtp", 4096, "Maximum SMTP command line length."),
  time("smtp_greeting_delay", "smtp", "ms", "0", "Delay before the 220 greeting."),

  // ---- ManageSieve (RFC 5804; beyond nginx) ----
  { ...methods("sieve_auth", "sieve", methodsOf("sieve"), ["plain"], "ManageSieve methods advertised (`\"SASL\"`)/allowed."), extension: true },
  {
    ...words("sieve_capabilities", "sieve", PIGEONHOLE_EXTENSIONS, "The extensions of the `\"SIEVE\"` capability before login (`\"NOTIFY\" \"mailto\"` too when `enotify` is one); default: Pigeonhole's."),
    extension: true,
  },
  { ...size("sieve_client_buffer", "sieve", 4096, "Maximum ManageSieve command size, literals included."), extension: true },
];

const BY_NAME = new Map<string, Directive[]>();
for (const d of DIRECTIVES) BY_NAME.set(d.name, [...(BY_NAME.get(d.name) ?? []), d]);

/** The table entry of a directive name, if mailproxy knows it: the one of `ctx` when a name has several (`server`). */
export function directive(name: string, ctx?: Context): Directive | undefined {
  const entries = BY_NAME.get(name) ?? [];
  return (ctx && entries.find((d) => d.contexts.includes(ctx))) ?? entries[0];
}

/** The directives of an `upstream {}` block. */
export const UPSTREAM_DIRECTIVES: readonly Directive[] = DIRECTIVES.filter((d) => d.contexts.includes("upstream"));

export { UPSTREAM_NAME };

/** Directives holding per-server settings (allowed in `mail` or `server`, stored in settings). */
export const SETTINGS_DIRECTIVES: readonly Directive[] = DIRECTIVES.filter(
  (d) => d.kind !== "block" && !d.onBlock && (d.contexts.includes("mail") || d.contexts.includes("server")),
);

/** Protocol guessed from a well-known port (directives.md §5.4). */
export const WELL_KNOWN_PORTS: Readonly<Record<number, Protocol>> = {
  143: "imap",
  993: "imap",
  110: "pop3",
  995: "pop3",
  25: "smtp",
  465: "smtp",
  587: "smtp",
  4190: "sieve",
};

/** The first listen on a well-known port decides the protocol (§5.4); later ones don't. */
export function detectProtocol(listen: readonly ListenSpec[]): Protocol | undefined {
  for (const l of listen) {
    if (l.kind !== "tcp") continue;
    const protocol = WELL_KNOWN_PORTS[l.port];
    if (protocol) return protocol;
  }
  return undefined;
}

/** Top-level blocks and directives of nginx that mailproxy skips with one warning. */
export const SKIPPED_TOP_LEVEL: readonly string[] = ["http", "stream", "load_module"];

/** Other top-level (main context) nginx directives: ignored with a warning. */
export const IGNORED_MAIN: readonly string[] = [
  "env", "thread_pool", "pcre_jit", "lock_file", "master_process", "worker_priority",
  "worker_cpu_affinity", "worker_rlimit_core", "working_directory", "timer_resolution",
  "debug_points", "ssl_engine", "google_perftools_profiles", "quic_bpf", "ssl_object_cache_inheritable",
  "mgmt",
];

/** `events {}` directives other than worker_connections: ignored with a warning. */
export const IGNORED_EVENTS: readonly string[] = [
  "use", "multi_accept", "accept_mutex", "accept_mutex_delay", "debug_connection", "worker_aio_requests",
];

/**
 * Names that exist in other nginx modules (http, stream, ...) but not in mail: nginx says
 * `"<name>" directive is not allowed here` for them rather than "unknown" (§7).
 */
export const KNOWN_NON_MAIL: readonly string[] = [
  "access_log", "allow", "deny", "limit_conn", "limit_conn_zone", "limit_req", "limit_req_zone",
  "location", "root", "alias", "index", "return", "rewrite", "try_files", "if", "set", "map",
  "geo", "split_clients", "types", "default_type", "sendfile", "tcp_nopush", "tcp_nodelay",
  "keepalive_timeout", "keepalive_requests", "client_max_body_size", "client_body_timeout",
  "client_header_timeout", "send_timeout", "log_format", "add_header", "expires", "gzip",
  "charset", "autoindex", "error_page", "server_tokens", "ssl_reject_handshake", "ssl_stapling",
  "ssl_stapling_file", "ssl_stapling_responder", "ssl_stapling_verify", "ssl_ocsp", "ssl_ocsp_cache",
  "ssl_ocsp_responder", "ssl_early_data", "ssl_buffer_size", "ssl_handshake_timeout", "ssl_preread",
  "proxy_connect_timeout", "proxy_read_timeout", "proxy_send_timeout", "proxy_set_header",
  "proxy_redirect", "proxy_http_version", "proxy_next_upstream", "proxy_bind", "proxy_download_rate",
  "proxy_upload_rate", "proxy_responses", "proxy_requests", "proxy_socket_keepalive",
  "proxy_ssl_session_reuse", "proxy_ssl_verify_depth", "proxy_ssl_conf_command",
  "proxy_ssl_password_file", "proxy_ssl_crl", "fastcgi_pass", "uwsgi_pass", "grpc_pass", "scgi_pass",
  "memcached_pass", "real_ip_header", "real_ip_recursive", "status_zone", "resolver_status_zone",
  "variables_hash_max_size", "variables_hash_bucket_size", "preread_buffer_size", "preread_timeout",
  "proxy_protocol_timeout", "js_import", "js_set", "server_names_hash_max_size",
  "server_names_hash_bucket_size", "satisfy", "auth_basic", "auth_basic_user_file", "auth_request",
  "large_client_header_buffers", "client_body_buffer_size", "open_file_cache", "ssl_verify_client_cert",
  "http2", "http3", "quic_retry", "ssl_password", "ip_hash", "keepalive", "zone",
  // ngx_http_proxy_module and ngx_stream_proxy_module: the proxy_* names most often copied into mail
  "proxy_pass_header", "proxy_hide_header", "proxy_ignore_headers", "proxy_pass_request_body",
  "proxy_pass_request_headers", "proxy_set_body", "proxy_method", "proxy_buffering", "proxy_buffers",
  "proxy_buffer_size", "proxy_busy_buffers_size", "proxy_request_buffering", "proxy_max_temp_file_size",
  "proxy_temp_file_write_size", "proxy_temp_path", "proxy_cache", "proxy_cache_path", "proxy_cache_key",
  "proxy_cache_valid", "proxy_cache_bypass", "proxy_cache_lock", "proxy_cache_methods",
  "proxy_cache_min_uses", "proxy_cache_revalidate", "proxy_cache_use_stale", "proxy_no_cache",
  "proxy_intercept_errors", "proxy_cookie_domain", "proxy_cookie_path", "proxy_cookie_flags",
  "proxy_ignore_client_abort", "proxy_limit_rate", "proxy_next_upstream_timeout",
  "proxy_next_upstream_tries", "proxy_store", "proxy_store_access", "proxy_headers_hash_max_size",
  "proxy_headers_hash_bucket_size", "proxy_force_ranges", "proxy_send_lowat", "proxy_half_close",
  "proxy_session_drop",
  ...IGNORED_EVENTS,
  "worker_connections",
  ...IGNORED_MAIN,
  ...SKIPPED_TOP_LEVEL,
];
