/**
 * `listen address[:port] [parameters]` (directives.md §5.1, §5.2). Pure: host names are
 * kept as written, the runtime resolves them.
 */

import type { KeepaliveSpec, ListenSpec, Source } from "../model.ts";
import { ValueError } from "../errors.ts";
import { parseNumber, parseSize, parseTime } from "../units.ts";
import { canonicalHost, checkHost, parsePort, splitHostPort } from "./address.ts";

export interface ValueContext {
  warn(message: string): void;
}

function addressError(reason: string, address: string): ValueError {
  return new ValueError("listen", `${reason} in "${address}" of the "listen" directive`);
}

/** Parses the address part of a listen into the address fields of a ListenSpec. */
function parseListenAddress(
  address: string,
): Pick<ListenSpec, "address" | "kind" | "host" | "port" | "portEnd" | "path"> {
  if (address.startsWith("unix:")) {
    const path = address.slice(5);
    if (path === "") throw addressError("no path in the unix domain socket", address);
    return { address, kind: "unix", host: "", port: 0, portEnd: 0, path };
  }
  const split = splitHostPort(address, true);
  if (typeof split === "string") throw addressError(split, address);
  if (split.port === "") throw addressError("no port", address);

  const range = /^([0-9]+)-([0-9]+)$/.exec(split.port);
  let port: number | null;
  let portEnd: number | null;
  if (range) {
    port = parsePort(range[1]!);
    portEnd = parsePort(range[2]!);
    if (port === null || portEnd === null || portEnd < port) throw addressError("invalid port range", address);
  } else {
    port = portEnd = parsePort(split.port);
    if (port === null) throw addressError("invalid port", address);
  }

  let host: string;
  if (split.host === "" || split.host === "*" || split.host === "0.0.0.0") {
    if (address.startsWith(":")) throw addressError("no host", address);
    host = "*";
  } else {
    const bad = checkHost(split.host);
    if (bad) throw addressError(bad, address);
    host = split.host.startsWith("[") ? canonicalHost(split.host).slice(1, -1) : split.host;
  }
  return { address, kind: "tcp", host, port: port!, portEnd: portEnd! };
}

function parseKeepalive(param: string): KeepaliveSpec {
  const value = param.slice("so_keepalive=".length);
  const invalid = () => new ValueError("listen", `invalid so_keepalive value: "${value}"`);
  if (value === "on") return { enabled: true };
  if (value === "off") return { enabled: false };
  const parts = value.split(":");
  if (parts.length > 3) throw invalid();
  const [idleText = "", intvlText = "", cntText = ""] = parts;
  const spec: KeepaliveSpec = {};
  if (idleText !== "") {
    const idle = parseTime(idleText, "s");
    if (idle === null) throw invalid();
    spec.idle = idle;
  }
  if (intvlText !== "") {
    const intvl = parseTime(intvlText, "s");
    if (intvl === null) throw invalid();
    spec.intvl = intvl;
  }
  if (cntText !== "") {
    const cnt = parseNumber(cntText);
    if (cnt === null) throw invalid();
    spec.cnt = cnt;
  }
  if (!spec.idle && !spec.intvl && !spec.cnt) throw invalid();
  return spec;
}

/** Parses the arguments of one `listen` directive. */
export function parseListen(args: string[], source: Source, ctx: ValueContext): ListenSpec {
  const spec: ListenSpec = {
    ...parseListenAddress(args[0]!),
    ssl: false,
    proxy_protocol: false,
    bind: false,
    ipv6only: true,
    multipath: false,
    default_server: false,
    source,
  };
  for (const param of args.slice(1)) {
    if (param === "bind") spec.bind = true;
    else if (param === "ssl") spec.ssl = true;
    else if (param === "proxy_protocol") spec.proxy_protocol = true;
    else if (param === "default_server") spec.default_server = true;
    else if (param === "multipath") {
      spec.multipath = true;
      ctx.warn("multipath is not supported on this platform, ignored");
    } else if (param.startsWith("backlog=")) {
      const backlog = parseNumber(param.slice(8));
      if (backlog === null || backlog === 0) throw new ValueError("listen", `invalid backlog "${param}"`);
      spec.backlog = backlog;
    } else if (param.startsWith("rcvbuf=")) {
      const size = parseSize(param.slice(7));
      if (size === null) throw new ValueError("listen", `invalid rcvbuf "${param}"`);
      spec.rcvbuf = size;
    } else if (param.startsWith("sndbuf=")) {
      const size = parseSize(param.slice(7));
      if (size === null) throw new ValueError("listen", `invalid sndbuf "${param}"`);
      spec.sndbuf = size;
    } else if (param.startsWith("ipv6only=")) {
      const flag = param.slice(9);
      if (flag !== "on" && flag !== "off") throw new ValueError("listen", `invalid ipv6only flags "${flag}"`);
      spec.ipv6only = flag === "on";
    } else if (param.startsWith("so_keepalive=")) {
      spec.so_keepalive = parseKeepalive(param);
    } else {
      throw new ValueError("invalid_parameter", `invalid parameter "${param}"`);
    }
  }
  return spec;
}

/** Writes a ListenSpec back as nginx `listen` arguments. */
export function formatListen(spec: ListenSpec): string[] {
  const args = [spec.address];
  if (spec.ssl) args.push("ssl");
  if (spec.proxy_protocol) args.push("proxy_protocol");
  if (spec.backlog !== undefined) args.push(`backlog=${spec.backlog}`);
  if (spec.rcvbuf !== undefined) args.push(`rcvbuf=${spec.rcvbuf}`);
  if (spec.sndbuf !== undefined) args.push(`sndbuf=${spec.sndbuf}`);
  if (spec.bind) args.push("bind");
  if (!spec.ipv6only) args.push("ipv6only=off");
  if (spec.multipath) args.push("multipath");
  if (spec.so_keepalive) args.push(`so_keepalive=${formatKeepalive(spec.so_keepalive)}`);
  if (spec.default_server) args.push("default_server");
  return args;
}

/** `on`, `off` or `idle:intvl:cnt` with empty parts for system defaults. */
function formatKeepalive(spec: KeepaliveSpec): string {
  if (spec.enabled !== undefined) return spec.enabled ? "on" : "off";
  return `${spec.idle ?? ""}:${spec.intvl ?? ""}:${spec.cnt ?? ""}`;
}

/**
 * The `(address, port)` pairs a listen occupies, spelled as nginx prints them in
 * `duplicate "<addr:port>" address and port pair` (`0.0.0.0:110`, `[::1]:143`, `unix:/p`).
 */
export function listenPairs(spec: ListenSpec): string[] {
  if (spec.kind === "unix") return [`unix:${spec.path}`];
  const host = spec.host === "*" ? "0.0.0.0" : spec.host.includes(":") ? `[${spec.host}]` : spec.host.toLowerCase();
  const pairs: string[] = [];
  for (let port = spec.port; port <= spec.portEnd; port++) pairs.push(`${host}:${port}`);
  return pairs;
}
