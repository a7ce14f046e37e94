/**
 * `mailproxy serve --listen ... --protocol ... --upstream ...`: the ad-hoc flags
 * become nginx-format text that goes through the same parser as a config file,
 * so flags and files are validated by one set of rules.
 */
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

/** A whole config for flags used without a file. */
export function adhocConfigText(f: AdhocFlags): string {
  return `error_log stderr ${f.logLevel ?? "info"};\nmail {\n${adhocServerBlock(f).replace(/^/gm, "    ")}}\n`;
}
