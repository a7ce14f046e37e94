/**
 * The one typed configuration model. The nginx-format parser and the TOML loader
 * both produce a `Config`; everything else in mailproxy reads only this.
 *
 * Units: every time value is in milliseconds, every size in bytes.
 * Settings keys are the directive names, so directives.md is also the reference
 * for this model and for the TOML spelling.
 */

/** `sieve` is ManageSieve (RFC 5804), beyond nginx. */
export type Protocol = "imap" | "pop3" | "smtp" | "sieve";

export const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Where a directive or block came from, for error messages ("in FILE:LINE"). */
export interface Source {
  file: string;
  line: number;
  /** TOML key path (`mail.server[2]`), set for TOML configurations (line is then 0). */
  path?: string;
}

/** `error_log FILE|stderr [LEVEL] [json]`. */
export interface LogTarget {
  /** "stderr", a file path, or an nginx target such as "syslog:server=..." kept verbatim. */
  path: string;
  level: LogLevel;
  json: boolean;
}

export interface KeepaliveSpec {
  /** `on`/`off`; undefined when only the idle:intvl:cnt triple was given. */
  enabled?: boolean;
  /** Seconds; undefined = system default. */
  idle?: number;
  intvl?: number;
  cnt?: number;
}

/** One `listen` entry. A host name or a port range expands to several entries at startup. */
export interface ListenSpec {
  /** The address as written ("143", "*:143", "[::1]:993", "unix:/run/m.sock", "mail.local:25"). */
  address: string;
  /** "unix" for `unix:` sockets. */
  kind: "tcp" | "unix";
  /** "*" for the IPv4 wildcard, "::" for the IPv6 wildcard, an IP literal or a host name. */
  host: string;
  /** First port (0 for unix sockets). */
  port: number;
  /** Last port of a range; equal to `port` when there is no range. */
  portEnd: number;
  /** Path for unix sockets. */
  path?: string;
  ssl: boolean;
  proxy_protocol: boolean;
  backlog?: number;
  rcvbuf?: number;
  sndbuf?: number;
  bind: boolean;
  /** Only meaningful for IPv6 wildcards; nginx's default is on. */
  ipv6only: boolean;
  multipath: boolean;
  so_keepalive?: KeepaliveSpec;
  /** Beyond nginx: the default server of an address shared by several server_names (SNI). */
  default_server: boolean;
  source: Source;
}

/** Parsed `auth_http` URL. */
export type AuthHttpUrl =
  | { kind: "tcp"; url: string; host: string; port: number; uri: string }
  | { kind: "unix"; url: string; path: string; uri: string };

/**
 * The `auth_http` value: the first URL, and (beyond nginx) the further URLs of
 * `auth_http URL1 URL2 ...`, tried in turn when one is down.
 */
export type AuthHttpSpec = AuthHttpUrl & { fallbacks?: AuthHttpUrl[] };

/** Beyond nginx: `auth_http_cache valid=TIME max=N` (docs/auth.md). */
export interface AuthHttpCacheSpec {
  /** How long a positive answer is reused, ms. */
  valid: number;
  /** Most answers kept; the least recently used goes first. */
  max: number;
}

export interface ResolverSpec {
  /** Name servers as written, host[:port] or [v6]:port. */
  addresses: string[];
  /** Seconds; overrides answer TTLs. */
  valid?: number;
  ipv4: boolean;
  ipv6: boolean;
}

export type StartTls = "off" | "on" | "only";
export type ProxyProtocolOut = "off" | "on" | "v2";
export type VerifyClient = "off" | "on" | "optional" | "optional_no_ca";

export interface SessionCacheSpec {
  /** "off", "none", or the builtin/shared combination. */
  mode: "off" | "none" | "cache";
  /** Number of sessions of a builtin cache, when given. */
  builtin?: number;
  shared?: { name: string; size: number };
}

/** Methods as written in `*_auth` (lower case). */
export type AuthMethodName = "plain" | "login" | "apop" | "cram-md5" | "external" | "none" | "xoauth2" | "oauthbearer";

/**
 * Every directive allowed in `mail {}` and `server {}`. Absent key = not set at that level.
 * List directives hold the whole list of that level (no merging across levels).
 */
export interface Settings {
  // core
  server_name: string;
  timeout: number;
  max_errors: number;
  /** null = `resolver off`. */
  resolver: ResolverSpec | null;
  resolver_timeout: number;
  error_log: LogTarget[];
  // auth_http
  auth_http: AuthHttpSpec;
  /** Beyond nginx: null = `auth_http_cache off` (the default). */
  auth_http_cache: AuthHttpCacheSpec | null;
  auth_http_header: Array<[string, string]>;
  auth_http_pass_client_cert: boolean;
  auth_http_timeout: number;
  /**
   * Beyond nginx: idle keep-alive connections kept per auth service (HTTP/1.1).
   * 0 = nginx's behaviour exactly (HTTP/1.0, one connection per request).
   */
  auth_http_keepalive: number;
  // proxy
  proxy_buffer: number;
  proxy_pass_error_message: boolean;
  proxy_protocol: ProxyProtocolOut;
  proxy_smtp_auth: boolean;
  proxy_timeout: number;
  xclient: boolean;
  /** Undocumented nginx directive: accepted, no effect. */
  proxy: boolean;
  // realip
  set_real_ip_from: string[];
  // ssl
  starttls: StartTls;
  /** Deprecated `ssl on`: every listen of the server is `listen ... ssl`. */
  ssl: boolean;
  ssl_certificate: string[];
  ssl_certificate_key: string[];
  ssl_password_file: string;
  ssl_certificate_compression: boolean;
  ssl_ciphers: string;
  ssl_prefer_server_ciphers: boolean;
  ssl_protocols: string[];
  ssl_dhparam: string;
  ssl_ecdh_curve: string;
  ssl_session_cache: SessionCacheSpec;
  ssl_session_timeout: number;
  ssl_session_tickets: boolean;
  ssl_session_ticket_key: string[];
  ssl_verify_client: VerifyClient;
  ssl_verify_depth: number;
  ssl_client_certificate: string;
  ssl_trusted_certificate: string;
  ssl_crl: string;
  ssl_conf_command: Array<[string, string]>;
  // imap
  imap_auth: AuthMethodName[];
  imap_capabilities: string[];
  imap_client_buffer: number;
  // pop3
  pop3_auth: AuthMethodName[];
  pop3_capabilities: string[];
  // smtp
  smtp_auth: AuthMethodName[];
  smtp_capabilities: string[];
  smtp_client_buffer: number;
  smtp_greeting_delay: number;
  // sieve (ManageSieve, beyond nginx)
  sieve_auth: AuthMethodName[];
  /** The extensions of the `"SIEVE"` capability. */
  sieve_capabilities: string[];
  sieve_client_buffer: number;
  // beyond nginx
  /** `proxy_pass HOST:PORT | UPSTREAM`: passthrough backend or pool (server level only). */
  proxy_pass: string;
  /** `auth_file PATH`: the user table (docs/auth.md), absolute (resolved against the main file's folder). */
  auth_file: string;
  /** Client-Port, Server-IP, Server-Port in auth requests (off = the nginx request exactly). */
  auth_http_extra_headers: boolean;
  /** IMAP `ID` accepted before login (off = nginx: a syntax error). */
  imap_id: boolean;
  /** Send `ID` with the client's fields and x-originating-ip/-port, x-connected-ip/-port before the backend LOGIN. */
  proxy_imap_id: boolean;
  /** Login failures per client IP and per user; absent = no limit. */
  limit_login: LimitLoginSpec;
  /** Simultaneous connections per client IP (per mailproxy instance); absent = no limit. */
  limit_conn: LimitConnSpec;
  /** `redis://HOST[:PORT]`: where limit_login counts, shared by a fleet; absent = in memory. */
  limit_store: string;
  // TLS to the backend (beyond nginx)
  /** Implicit TLS to the backend. */
  proxy_ssl: boolean;
  /** STARTTLS/STLS to the backend before its login. */
  proxy_starttls: boolean;
  proxy_ssl_verify: boolean;
  proxy_ssl_trusted_certificate: string;
  /** The name the backend's certificate is checked against (and sent as SNI); absent = the backend host. */
  proxy_ssl_name: string;
  proxy_ssl_server_name: boolean;
  proxy_ssl_certificate: string;
  proxy_ssl_certificate_key: string;
  proxy_ssl_protocols: string[];
  proxy_ssl_ciphers: string;
}

/** `limit_login zone=NAME [per_ip=N] [per_user=N] window=TIME [delay=TIME]` (times in ms). */
export interface LimitLoginSpec {
  zone: string;
  per_ip?: number;
  per_user?: number;
  window: number;
  /** How long a refused (over-limit) attempt waits before its answer; default 1s. */
  delay: number;
}

/** `limit_conn per_ip=N`. */
export interface LimitConnSpec {
  per_ip: number;
}

export interface ServerBlock {
  source: Source;
  listen: ListenSpec[];
  /** Explicit `protocol`, or the one guessed from the first well-known listen port. */
  protocol?: Protocol;
  settings: Partial<Settings>;
}

export interface MailBlock {
  source: Source;
  settings: Partial<Settings>;
  servers: ServerBlock[];
  /** Beyond nginx's mail module: `upstream NAME { ... }` backend pools (docs/director.md); absent when none. */
  upstreams?: UpstreamBlock[];
}

/** One `server ADDRESS [weight=N] [max_fails=N] [fail_timeout=TIME] [backup] [down]` of an upstream. */
export interface UpstreamServerSpec {
  /** `host:port` as written. */
  address: string;
  host: string;
  port: number;
  weight: number;
  /** 0 = failures are never counted. */
  max_fails: number;
  /** ms: the window failures are counted in, and how long the server is then out. */
  fail_timeout: number;
  backup: boolean;
  down: boolean;
}

/** `sticky_store redis://HOST[:PORT][/DB] [ttl=TIME]`: the fleet's shared user → backend map. */
export interface StickyStoreSpec {
  url: string;
  host: string;
  port: number;
  db: number;
  /** ms an assignment lives after the user's last session. */
  ttl: number;
}

/** `health_check [interval=TIME] [fails=N] [passes=N] [greeting] [starttls]`. */
export interface HealthCheckSpec {
  interval: number;
  fails: number;
  passes: number;
  /** Read the backend's greeting (else a connect is enough). */
  greeting: boolean;
  /** Then STARTTLS and a TLS handshake. */
  starttls: boolean;
}

/** `hash KEY [consistent]`: KEY is a variable such as `$login` or `$remote_addr`. */
export interface HashSpec {
  key: string;
  consistent: boolean;
}

export interface UpstreamSettings {
  hash: HashSpec;
  /** `least_conn`: the backend with the fewest sessions per weight. */
  least_conn: boolean;
  server: UpstreamServerSpec[];
  sticky_store: StickyStoreSpec;
  health_check: HealthCheckSpec;
}

export interface UpstreamBlock {
  name: string;
  source: Source;
  settings: Partial<UpstreamSettings>;
}

/** The top level of the file (main context) plus the mail block. */
export interface Config {
  /** The main configuration file, absolute. */
  file: string;
  /** `-p PREFIX` or the main file's folder. */
  prefix: string;
  worker_processes: number | "auto";
  error_log: LogTarget[];
  pid?: string;
  daemon: boolean;
  worker_connections: number;
  worker_rlimit_nofile?: number;
  worker_shutdown_timeout?: number;
  user?: { user: string; group?: string };
  /** Beyond nginx: `status_listen ADDRESS:PORT`, HTTP /metrics (Prometheus) and /status (JSON). */
  status_listen?: string;
  /** Beyond nginx: `status_allow ADDRESS|CIDR`, peers allowed status_listen's pool operations; absent: loopback. */
  status_allow?: string[];
  /** Beyond nginx: `access_log FILE [json]`, one line per finished session. */
  access_log?: { path: string; json: boolean };
  mail?: MailBlock;
}

/** Directives with no built-in default: optional even after inheritance. */
export type SettingWithoutDefault =
  | "auth_http"
  | "proxy_pass"
  | "auth_file"
  | "limit_login"
  | "limit_conn"
  | "limit_store"
  | "ssl_password_file"
  | "ssl_dhparam"
  | "ssl_client_certificate"
  | "ssl_trusted_certificate"
  | "ssl_crl"
  | "proxy_ssl_trusted_certificate"
  | "proxy_ssl_name"
  | "proxy_ssl_certificate"
  | "proxy_ssl_certificate_key";

/** A server with inheritance and defaults applied: what the runtime uses. */
export type EffectiveServer =
  & Omit<Settings, SettingWithoutDefault>
  & Partial<Pick<Settings, SettingWithoutDefault>>
  & {
    protocol: Protocol;
    listen: ListenSpec[];
    source: Source;
  };
