/**
 * Which socket layer a listener or a backend connection uses, chosen at config load:
 * Bun's native sockets on Bun, unless the listener needs a feature they lack (found by
 * experiment; README's TLS table), then node:net/node:tls; Deno always node:.
 * `MAILPROXY_SOCKETS=node` forces node: everywhere (the Bun suite runs both ways).
 */
import type { EffectiveServer, ListenSpec } from "../config/model.ts";
import { RUNTIME } from "../runtime.ts";
import { serverUsesTls } from "../tls/context.ts";
import { bunSockets } from "./bun.ts";
import { nodeSockets } from "./node.ts";
import type { Sockets } from "./socket.ts";

/** The environment variable that forces the node: socket layer: `MAILPROXY_SOCKETS=node`. */
export const SOCKETS_ENV = "MAILPROXY_SOCKETS";

const nativeAllowed = RUNTIME === "Bun" && process.env[SOCKETS_ENV] !== "node";

/** The socket layer of connections that need no TLS feature: backends, health probes. */
export function defaultSockets(): Sockets {
  return nativeAllowed ? bunSockets : nodeSockets;
}

/** nginx's default ssl_session_timeout, which Bun's native TLS has too. */
const DEFAULT_SESSION_TIMEOUT_MS = 300_000;

/** One server on a listening socket, with the listen that put it there and the address it listens on. */
export interface ListeningServer {
  server: EffectiveServer;
  listen: ListenSpec;
  /** The IP address (or unix path) of the listen: a wildcard socket serves several. */
  host: string;
}

/**
 * The first feature the servers of one listening socket need and Bun's native sockets
 * lack; undefined when they lack none.
 */
export function nativeLacks(entries: readonly ListeningServer[]): string | undefined {
  if (entries.some((e) => e.listen.backlog !== undefined)) return "a listen queue length (backlog=)";
  const tls = entries.filter((e) => serverUsesTls(e.server));
  // Servers on different addresses of one wildcard socket are told apart by the address, not SNI.
  for (const host of new Set(tls.map((e) => e.host))) {
    if (new Set(tls.filter((e) => e.host === host).map((e) => e.server)).size > 1) return "certificate choice by server name (SNI)";
  }
  if (tls.some((e) => e.listen.ssl && e.listen.proxy_protocol)) return "TLS data in the packet of the PROXY header (proxy_protocol with ssl)";
  for (const server of new Set(tls.map((e) => e.server))) {
    if (server.ssl_verify_client !== "off") return "client certificate chains (ssl_verify_client)";
    if (server.ssl_prefer_server_ciphers) return "the server's cipher preference (ssl_prefer_server_ciphers)";
    if (server.ssl_conf_command.length > 0) return "ssl_conf_command";
    if (server.ssl_session_timeout !== DEFAULT_SESSION_TIMEOUT_MS) return "ssl_session_timeout";
  }
  return undefined;
}

/**
 * The socket layer of one listening address (`name`: how the log names it); a fallback
 * to node: on Bun is told to `log` (once per address, when it is bound).
 */
export function listenerSockets(name: string, entries: readonly ListeningServer[], log: (message: string) => void): Sockets {
  if (!nativeAllowed) return nodeSockets;
  const lacking = nativeLacks(entries);
  if (!lacking) return bunSockets;
  log(`listen ${name} uses node:net/node:tls sockets: Bun's native sockets lack ${lacking}`);
  return nodeSockets;
}
