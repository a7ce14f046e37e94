/**
 * `mailproxy serve --listen ... --protocol ... --upstream ...`: the ad-hoc flags
 * become nginx-format text that goes through the same parser as a config file,
 * so flags and files are validated by one set of rules.
 */
import { ConfigError, type ConfigErrorCode } from "../config/errors.ts";

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

export function hasServerFlags(f: AdhocFlags): boolean {
  return f.listen.length > 0 || !!(f.protocol || f.authHttp || f.upstream || f.serverName || f.sslCertificate ||
    f.sslCertificateKey || f.starttls);
}

/** Quote a value for nginx syntax. */
export function quote(value: string): string {
  return /^[A-Za-z0-9_./:*@\[\]=+-]+$/.test(value) ? value : `"${value.replace(/(["\\])/g, "\\$1")}"`;
}

/** One `server { }` block built from the flags. */
export function adhocServerBlock(f: AdhocFlags): string {
  const lines: string[] = [];
  for (const l of f.listen) lines.push(`listen ${l.split(/\s+/).map(quote).join(" ")};`);
  if (f.protocol) lines.push(`protocol ${quote(f.protocol)};`);
  if (f.authHttp) lines.push(`auth_http ${quote(f.authHttp)};`);
  if (f.upstream) lines.push(`proxy_pass ${quote(f.upstream)};`);
  if (f.serverName) lines.push(`server_name ${quote(f.serverName)};`);
  if (f.sslCertificate) lines.push(`ssl_certificate ${quote(f.sslCertificate)};`);
  if (f.sslCertificateKey) lines.push(`ssl_certificate_key ${quote(f.sslCertificateKey)};`);
  if (f.starttls) lines.push(`starttls ${quote(f.starttls)};`);
  return `server {\n${lines.map((l) => `    ${l}`).join("\n")}\n}\n`;
}

/**
 * A whole config for flags used without a file. Without a file nothing asked for nginx's
 * 512 worker_connections, so the open-files limit is the bound (`openFiles`; unknown or
 * unlimited: none), and 600 IDLE clients are not cut at the 513th.
 */
export function adhocConfigText(f: AdhocFlags, openFiles?: number): string {
  const connections = openFiles === undefined || !Number.isFinite(openFiles) ? 0 : openFiles;
  return `error_log stderr ${f.logLevel ?? "info"};\nevents {\n    worker_connections ${connections};\n}\n` +
    `mail {\n${adhocServerBlock(f).replace(/^/gm, "    ")}}\n`;
}

/**
 * A refusal of the flags' server in the flags' own terms, without the place in the
 * generated text (which no person wrote).
 */
export function flagsError(err: ConfigError, f: AdhocFlags): ConfigError {
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
