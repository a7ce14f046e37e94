/**
 * `mailproxy serve --listen ... --protocol ... --upstream ...`: the ad-hoc flags become
 * statements, the shape a configuration file parses into, so flags and files are
 * validated by one set of rules (interpret.ts). With a file, the flags' server joins
 * the file's `mail { }` block after the file's own servers and inherits from it: the
 * file's mail-level directives apply to it unless a flag sets the same one.
 */
import path from "node:path";
import type { Config } from "./model.ts";
import { ConfigError, type ConfigErrorCode, type Loc } from "./errors.ts";
import type { Statement } from "./statement.ts";
import { loadConfig, type LoadResult, loadStatements } from "./load.ts";

export interface AdhocFlags {
  listen: string[];
  protocol?: string;
  authHttp?: string;
  upstream?: string;
  serverName?: string;
  sslCertificate?: string;
  sslCertificateKey?: string;
  starttls?: string;
  logLevel?: string;
}

/** Where the flags' statements come from, as nginx names the place of `-g` directives. */
const COMMAND_LINE: Loc = { file: "command line", line: 0 };

export function hasServerFlags(f: AdhocFlags): boolean {
  return f.listen.length > 0 || !!(f.protocol || f.authHttp || f.upstream || f.serverName || f.sslCertificate ||
    f.sslCertificateKey || f.starttls);
}

function statement(name: string, args: string[], block?: Statement[]): Statement {
  return block ? { name, args, at: COMMAND_LINE, block } : { name, args, at: COMMAND_LINE };
}

/**
 * The one `server { }` block the flags make. File names are relative to the working
 * directory, as on any command line, also when a file's folder anchors the file's own.
 */
function adhocServer(f: AdhocFlags): Statement {
  const body: Statement[] = [];
  const add = (name: string, value: string | undefined) => value && body.push(statement(name, [value]));
  for (const l of f.listen) body.push(statement("listen", l.trim().split(/\s+/)));
  add("protocol", f.protocol);
  add("auth_http", f.authHttp);
  add("proxy_pass", f.upstream);
  add("server_name", f.serverName);
  add("ssl_certificate", f.sslCertificate && path.resolve(f.sslCertificate));
  add("ssl_certificate_key", f.sslCertificateKey && path.resolve(f.sslCertificateKey));
  add("starttls", f.starttls);
  return statement("server", [], body);
}

/**
 * The top level of a configuration made of flags alone. Without a file nothing asked for
 * nginx's 512 worker_connections, so the open-files limit is the bound (`openFiles`;
 * unknown or unlimited: none), and 600 IDLE clients are not cut at the 513th.
 */
function adhocTopLevel(f: AdhocFlags, openFiles?: number): Statement[] {
  const connections = openFiles === undefined || !Number.isFinite(openFiles) ? 0 : openFiles;
  return [
    statement("error_log", ["stderr", f.logLevel ?? "info"]),
    statement("events", [], [statement("worker_connections", [String(connections)])]),
  ];
}

/**
 * A refusal of the flags' server in the flags' own terms, without a place (no person
 * wrote the statements).
 */
function flagsError(err: ConfigError, f: AdhocFlags): ConfigError {
  const listen = f.listen.length ? `--listen ${f.listen.join(" --listen ")}` : "the server";
  const reason = ({
    no_listen: "no --listen address given, e.g. --listen 143",
    no_auth_http: `no backend for ${listen}: give --upstream HOST:PORT (a passthrough backend) or ` +
      `--auth-http URL (an auth service), or -c FILE for a configuration file`,
    unknown_protocol: `unknown mail protocol for ${listen}: give --protocol imap, pop3, smtp or sieve`,
    no_certificate: `${listen} needs --ssl-certificate FILE and --ssl-certificate-key FILE`,
    no_certificate_key: `${listen} needs --ssl-certificate-key FILE`,
  } as Partial<Record<ConfigErrorCode, string>>)[err.code] ?? err.reason;
  return new ConfigError(err.code, reason, { file: "", line: 0 });
}

interface FlagsAndFile {
  /** The configuration file; undefined: the flags alone make the configuration. */
  file?: string;
  /** `-p PREFIX`. */
  prefix?: string;
  /** `-g` directives. */
  globalDirectives?: string;
  flags: AdhocFlags;
  /** The open-files limit, which bounds worker_connections for flags alone. */
  openFiles?: number;
}

/**
 * Load a configuration from a file, flags, or both, with its warnings; throws ConfigError.
 * The file is loaded alone first, so a refusal of the combination is the flags'.
 */
export function loadFileAndFlags(o: FlagsAndFile): LoadResult {
  const asFlags = (load: () => LoadResult): LoadResult => {
    try {
      return load();
    } catch (err) {
      throw err instanceof ConfigError ? flagsError(err, o.flags) : err;
    }
  };
  const options = { prefix: o.prefix, globalDirectives: o.globalDirectives, checkFiles: true };
  let loaded: LoadResult;
  if (o.file === undefined) {
    const servers = [adhocServer(o.flags)];
    // named as if a file in the working directory, so relative paths resolve from there
    loaded = asFlags(() => loadStatements(adhocTopLevel(o.flags, o.openFiles), "(command line)", { ...options, servers }));
  } else {
    loaded = loadConfig(o.file, options);
    if (hasServerFlags(o.flags)) loaded = asFlags(() => loadConfig(o.file!, { ...options, servers: [adhocServer(o.flags)] }));
  }
  if (o.flags.logLevel) {
    const level = o.flags.logLevel as Config["error_log"][number]["level"];
    const { config } = loaded;
    config.error_log = (config.error_log.length ? config.error_log : [{ path: "stderr", level, json: false }])
      .map((t) => ({ ...t, level }));
  }
  return loaded;
}
