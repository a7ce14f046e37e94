/** Config → TOML text (spec/toml.md), loading back to the same model. */

import type { Config, KeepaliveSpec, ListenSpec, LogTarget, ResolverSpec, ServerBlock, UpstreamBlock } from "./model.ts";
import { detectProtocol, DIRECTIVES, directive, type Directive, SETTINGS_DIRECTIVES, UPSTREAM_DIRECTIVES } from "./directives.ts";
import { formatTimeSec } from "./units.ts";

/** A TOML basic string. */
function tomlString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).padStart(4, "0").toUpperCase()}`;
    else out += ch;
  }
  return out + '"';
}

type Inline = string | number | boolean | Inline[] | { [key: string]: Inline };

function inline(v: Inline): string {
  if (typeof v === "string") return tomlString(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(inline).join(", ")}]`;
  const entries = Object.entries(v).map(([k, x]) => `${k} = ${inline(x)}`);
  return entries.length ? `{ ${entries.join(", ")} }` : "{}";
}

function keepalive(spec: KeepaliveSpec): Inline {
  if (spec.enabled !== undefined) return spec.enabled;
  return `${spec.idle ?? ""}:${spec.intvl ?? ""}:${spec.cnt ?? ""}`;
}

function listenTable(l: ListenSpec): Inline {
  const t: Record<string, Inline> = { address: l.address };
  if (l.ssl) t.ssl = true;
  if (l.proxy_protocol) t.proxy_protocol = true;
  if (l.backlog !== undefined) t.backlog = l.backlog;
  if (l.rcvbuf !== undefined) t.rcvbuf = l.rcvbuf;
  if (l.sndbuf !== undefined) t.sndbuf = l.sndbuf;
  if (l.bind) t.bind = true;
  if (!l.ipv6only) t.ipv6only = false;
  if (l.multipath) t.multipath = true;
  if (l.so_keepalive) t.so_keepalive = keepalive(l.so_keepalive);
  if (l.default_server) t.default_server = true;
  return t;
}

function logTable(target: LogTarget): Inline {
  const t: Record<string, Inline> = { file: target.path };
  if (target.level !== "error") t.level = target.level;
  if (target.json) t.json = true;
  return t;
}

function resolverValue(spec: ResolverSpec | null): Inline {
  if (spec === null) return false;
  const t: Record<string, Inline> = { addresses: spec.addresses };
  if (spec.valid !== undefined) t.valid = formatTimeSec(spec.valid);
  if (!spec.ipv4) t.ipv4 = false;
  if (!spec.ipv6) t.ipv6 = false;
  return t;
}

/** A model value in its TOML shape, decided by the directive's kind. */
function tomlValue(d: Directive, value: unknown): Inline {
  const args = () => d.format(value);
  switch (d.kind) {
    case "flag":
    case "noargs":
      return value as boolean;
    case "number":
      return value as number;
    case "workers":
      return value as number | string;
    case "listen":
      return (value as ListenSpec[]).map(listenTable);
    case "error_log":
      return (value as LogTarget[]).map(logTable);
    case "resolver":
      return resolverValue(value as ResolverSpec | null);
    case "words":
    case "methods":
      return args()[0]!;
    case "pair":
      return args();
    case "session_cache":
    case "user":
      return d.repeat === "append" ? args().map((a) => a.join(" ")) : args()[0]!.join(" ");
    default:
      // Times, sizes and strings: nginx spelling ("30s", "16k"); repeatable strings: arrays.
      return d.repeat === "append" ? args().map((a) => a[0]!) : args()[0]![0]!;
  }
}

function keyLines(settings: Record<string, unknown>, directives: readonly Directive[]): string[] {
  const out: string[] = [];
  for (const d of directives) {
    const value = settings[d.name];
    if (value !== undefined) out.push(`${d.name} = ${inline(tomlValue(d, value))}`);
  }
  return out;
}

function serverLines(server: ServerBlock): string[] {
  const out = ["[[mail.server]]", `listen = ${inline(tomlValue(directive("listen")!, server.listen))}`];
  if (server.protocol !== undefined && detectProtocol(server.listen) !== server.protocol) {
    out.push(`protocol = ${tomlString(server.protocol)}`);
  }
  out.push(...keyLines(server.settings as Record<string, unknown>, SETTINGS_DIRECTIVES));
  return out;
}

function upstreamLines(upstream: UpstreamBlock): string[] {
  const key = /^[A-Za-z0-9_-]+$/.test(upstream.name) ? upstream.name : tomlString(upstream.name);
  return [`[mail.upstream.${key}]`, ...keyLines(upstream.settings as Record<string, unknown>, UPSTREAM_DIRECTIVES)];
}

/** Writes a Config as TOML that loads back to the same model. */
export function toToml(config: Config): string {
  const top = config as unknown as Record<string, unknown>;
  const mainDirectives = DIRECTIVES.filter((d) => {
    if (!d.contexts.includes("main") || d.kind === "block") return false;
    const value = top[d.name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) return false;
    return d.default === undefined || JSON.stringify(d.default()) !== JSON.stringify(value);
  });
  const sections: string[][] = [];
  const main = keyLines(top, mainDirectives);
  if (main.length) sections.push(main);
  if (config.worker_connections !== directive("worker_connections")!.default!()) {
    sections.push(["[events]", `worker_connections = ${config.worker_connections}`]);
  }
  if (config.mail) {
    sections.push(["[mail]", ...keyLines(config.mail.settings as Record<string, unknown>, SETTINGS_DIRECTIVES)]);
    for (const upstream of config.mail.upstreams ?? []) sections.push(upstreamLines(upstream));
    for (const server of config.mail.servers) sections.push(serverLines(server));
  }
  return sections.map((s) => s.join("\n")).join("\n\n") + "\n";
}
