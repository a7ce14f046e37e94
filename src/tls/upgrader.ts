/**
 * The one place that turns a plain client socket into TLS: implicit TLS right after
 * accept, and STARTTLS/STLS. The socket layer (src/net/) stops reading, drops buffered
 * plaintext (CVE-2011-0411 family), wraps, and resolves only once the handshake is done
 * or has failed; this file picks the server (SNI) and describes the client.
 *
 * Beyond nginx, several servers may share one address (SNI): the handshake's server
 * name picks the server, and so its certificate and client-certificate settings.
 */
import type { EffectiveServer } from "../config/model.ts";
import type { NetSocket, ServerTlsConfig, ServerTlsRequest } from "../net/socket.ts";
import { buildServerTls, type ServerTls, serverUsesTls, tlsConfigError } from "./context.ts";
import { type ClientTlsInfo, describeClient } from "./client_info.ts";
import { secureContextOf } from "../net/node.ts";
import { INVALID_SERVER_NAME, isValidServerName } from "./server_name.ts";

/** Turns a server socket into TLS, for a session (STARTTLS) or its listener (implicit TLS). */
export interface TlsUpgrader {
  /**
   * Turn `socket` into the server side of TLS; resolves with the handshake's facts, or
   * the reason of the failure (the socket then destroyed). `server`: the server the SNI
   * name picked, when it is not the one the connection was accepted for.
   */
  upgrade(socket: NetSocket): Promise<
    { info: ClientTlsInfo; alpn?: string; certLine?: "error" | "required"; server?: EffectiveServer } | { error: string }
  >;
}

type Upgraded = Awaited<ReturnType<TlsUpgrader["upgrade"]>>;

/** One server's loaded TLS setup. */
interface PreparedTls {
  server: EffectiveServer;
  setup: ServerTls;
  config: ServerTlsConfig;
}

/** The upgrader of one server, with what an SNI upgrader needs to combine several. */
export interface ServerTlsUpgrader extends TlsUpgrader {
  readonly prepared: PreparedTls;
}

/**
 * The upgrader of one server, or undefined when the server uses no TLS. Throws a
 * ConfigError when a certificate, key or other TLS file cannot be loaded.
 * @example const upgrader = createTlsUpgrader(server); const up = await upgrader?.upgrade(socket);
 */
export function createTlsUpgrader(server: EffectiveServer): ServerTlsUpgrader | undefined {
  if (!serverUsesTls(server)) return undefined;
  let prepared: PreparedTls;
  try {
    const setup = buildServerTls(server);
    prepared = { server, setup, config: { context: setup.context, alpn: setup.alpn } };
    // A certificate the TLS library refuses is a config error now, not at the first handshake.
    secureContextOf(prepared.config);
  } catch (err) {
    throw tlsConfigError(err, server);
  }
  const request = handshakeRequest([prepared]);
  return { prepared, upgrade: (socket) => upgradeSocket(socket, request, [prepared]) };
}

/**
 * One upgrader for servers sharing an address: the client's SNI name picks the server
 * by server_name (exact, then `*.domain` wildcards); no SNI or an unknown name gets the
 * first one, the default server. The result names the chosen server.
 */
export function createSniTlsUpgrader(upgraders: ServerTlsUpgrader[]): TlsUpgrader {
  const candidates = upgraders.map((u) => u.prepared);
  const request = handshakeRequest(candidates);
  return { upgrade: (socket) => upgradeSocket(socket, request, candidates) };
}

/** The candidate whose server_name matches `name` (case-insensitive), else the default (first). */
function pickByServerName<T extends { server: EffectiveServer }>(candidates: T[], name: string | undefined): T {
  const wanted = (name ?? "").toLowerCase();
  if (wanted) {
    const exact = candidates.find((c) => c.server.server_name.toLowerCase() === wanted);
    if (exact) return exact;
    const wildcard = candidates.find((c) => {
      const pattern = c.server.server_name.toLowerCase();
      return pattern.startsWith("*.") && wanted.endsWith(pattern.slice(1)) && wanted.length > pattern.length - 1;
    });
    if (wildcard) return wildcard;
  }
  return candidates[0]!;
}

/** What every handshake of these candidates asks of the socket layer. */
function handshakeRequest(candidates: PreparedTls[]): ServerTlsRequest {
  return {
    configs: candidates.map((c) => c.config),
    pick: (name) => candidates.indexOf(pickByServerName(candidates, name)),
    // Asked before the SNI name is known: ask when any candidate verifies client certificates.
    requestCert: candidates.some((c) => c.setup.requestCert),
    timeoutMs: candidates[0]!.server.timeout,
  };
}

async function upgradeSocket(socket: NetSocket, request: ServerTlsRequest, candidates: PreparedTls[]): Promise<Upgraded> {
  const done = await socket.startTlsServer(request);
  if ("error" in done) return done;
  const chosen = candidates[done.chosen]!;
  try {
    const { info, certLine } = describeClient(done.facts, chosen.server, chosen.setup.trust);
    const serverName = done.facts.serverName;
    if (serverName && !isValidServerName(serverName)) return refuse(socket, INVALID_SERVER_NAME);
    // One spelling on every runtime (Deno lower-cases the name, Bun keeps the client's).
    if (serverName) info.serverName = serverName.toLowerCase();
    return {
      info,
      ...(done.facts.alpn ? { alpn: done.facts.alpn } : {}),
      ...(certLine ? { certLine } : {}),
      ...(done.chosen !== 0 ? { server: chosen.server } : {}),
    };
  } catch (err) {
    return refuse(socket, (err as Error).message);
  }
}

/** A handshake done but refused: the socket goes without a word to its owner. */
function refuse(socket: NetSocket, error: string): Upgraded {
  socket.owner = undefined;
  socket.destroy();
  return { error };
}
