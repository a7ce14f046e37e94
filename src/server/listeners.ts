/**
 * Turns `listen` entries into bound sockets. Like nginx, one wildcard socket per
 * port serves the specific addresses on that port too, and a connection is
 * dispatched by the local address it arrived on (directives.md §5.3).
 */
import net from "node:net";
import fs from "node:fs";
import type { NetListener, NetSocket, Sockets } from "../net/socket.ts";
import { lookupAll } from "../resolve.ts";
import type { ListenSpec } from "../config/model.ts";
import { unmapped } from "../wire/proxy_header.ts";

/** One concrete address a server listens on. */
export interface ListenEntry<T> {
  listen: ListenSpec;
  /** IP literal, "0.0.0.0"/"::" for wildcards, or the unix path. */
  host: string;
  port: number;
  target: T;
}

export interface Binding<T> {
  /** "tcp:0.0.0.0:143", "tcp6:[::]:143", "unix:/path". */
  key: string;
  kind: "tcp" | "unix";
  host: string;
  port: number;
  /** Options of the socket itself, taken from the entry that opened it. */
  listen: ListenSpec;
  entries: ListenEntry<T>[];
}

const WILDCARDS = new Set(["0.0.0.0", "::"]);

/** Expand host names and port ranges into concrete entries. */
export async function expandListen<T>(listen: ListenSpec, target: T): Promise<ListenEntry<T>[]> {
  if (listen.kind === "unix") return [{ listen, host: listen.path!, port: 0, target }];
  let hosts: string[];
  if (listen.host === "*" || listen.host === "") hosts = ["0.0.0.0"];
  else if (net.isIP(listen.host)) hosts = [listen.host];
  else {
    const found = await lookupAll(listen.host);
    hosts = [...new Set(found.map((a) => a.address))];
  }
  const entries: ListenEntry<T>[] = [];
  for (const host of hosts) {
    for (let port = listen.port; port <= listen.portEnd; port++) entries.push({ listen, host, port, target });
  }
  return entries;
}

/** Group entries into the sockets to open. */
export function planBindings<T>(entries: ListenEntry<T>[]): Binding<T>[] {
  const bindings = new Map<string, Binding<T>>();
  const keyOf = (e: ListenEntry<T>) =>
    e.listen.kind === "unix" ? `unix:${e.host}` : net.isIPv6(e.host) ? `tcp6:[${e.host}]:${e.port}` : `tcp:${e.host}:${e.port}`;
  const wildcardKey = (e: ListenEntry<T>) => (net.isIPv6(e.host) ? `tcp6:[::]:${e.port}` : `tcp:0.0.0.0:${e.port}`);

  // Servers sharing an address by server_name (SNI) share its socket too.
  for (const e of entries.filter((e) => e.listen.kind === "unix" || WILDCARDS.has(e.host))) {
    const same = bindings.get(keyOf(e));
    if (same) same.entries.push(e);
    else bindings.set(keyOf(e), { key: keyOf(e), kind: e.listen.kind, host: e.host, port: e.port, listen: e.listen, entries: [e] });
  }
  for (const e of entries.filter((e) => e.listen.kind === "tcp" && !WILDCARDS.has(e.host))) {
    const wild = bindings.get(wildcardKey(e)) ?? bindings.get(keyOf(e));
    if (wild) wild.entries.push(e);
    else bindings.set(keyOf(e), { key: keyOf(e), kind: "tcp", host: e.host, port: e.port, listen: e.listen, entries: [e] });
  }
  return [...bindings.values()];
}

/** The entry a connection belongs to: the specific address it arrived on, else the wildcard. */
function dispatch<T>(binding: Binding<T>, socket: { localAddress?: string }): ListenEntry<T> {
  if (binding.entries.length === 1) return binding.entries[0];
  const local = socket.localAddress ? unmapped(socket.localAddress) : "";
  return binding.entries.find((e) => e.host === local) ?? binding.entries.find((e) => WILDCARDS.has(e.host)) ??
    binding.entries[0];
}

/**
 * Every entry of the address a connection arrived on: several when servers share it
 * by server_name (SNI). The default server (`default_server`, else the first) comes first.
 */
export function dispatchAll<T>(binding: Binding<T>, socket: { localAddress?: string }): readonly ListenEntry<T>[] {
  const chosen = dispatch(binding, socket);
  let groups = groupsOf.get(binding) as Map<string, ListenEntry<T>[]> | undefined;
  if (!groups) groupsOf.set(binding, groups = new Map());
  let found = groups.get(chosen.host);
  if (!found) {
    const group = binding.entries.filter((e) => e.host === chosen.host);
    const preferred = group.find((e) => e.listen.default_server) ?? group[0]!;
    groups.set(chosen.host, found = [preferred, ...group.filter((e) => e !== preferred)]);
  }
  return found;
}

/** dispatchAll's answers per binding and address: the same every time, so computed once. */
const groupsOf = new WeakMap<Binding<unknown>, Map<string, readonly ListenEntry<unknown>[]>>();

/** Open a listening socket for a binding, on the socket layer `sockets`. */
export function openBinding<T>(
  binding: Binding<T>,
  onConnection: (socket: NetSocket) => void,
  sockets: Sockets,
  options: { reusePort?: boolean } = {},
): Promise<NetListener> {
  const backlog = binding.listen.backlog ?? 511;
  if (binding.kind === "unix") {
    try {
      if (fs.statSync(binding.host).isSocket()) fs.unlinkSync(binding.host);
    } catch {
      // no stale socket to remove
    }
    return sockets.listen({ host: binding.host, port: 0, unix: true, backlog }, onConnection);
  }
  return sockets.listen({
    host: binding.host,
    port: binding.port,
    backlog,
    ipv6Only: net.isIPv6(binding.host) ? binding.listen.ipv6only : undefined,
    reusePort: options.reusePort,
  }, onConnection);
}

/** Apply per-connection socket options of the listen entry. */
export function applySocketOptions(socket: NetSocket, listen: ListenSpec): void {
  const ka = listen.so_keepalive;
  if (!ka) return;
  if (ka.enabled === false) socket.setKeepAlive(false);
  else socket.setKeepAlive(true, (ka.idle ?? 0) * 1000);
}
