/**
 * The one place that turns a plain client socket into TLS: implicit TLS right after
 * accept, and STARTTLS/STLS. Stops reading, drops buffered plaintext (CVE-2011-0411
 * family), wraps, and resolves only once the handshake is done or has failed.
 *
 * Beyond nginx, several servers may share one address (SNI): the handshake's server
 * name picks the server, and so its certificate and client-certificate settings.
 */
import tls from "node:tls";
import type net from "node:net";
import type { EffectiveServer } from "../config/model.ts";
import type { TlsUpgrader } from "../server/session.ts";
import { buildServerTls, type ServerTls, serverUsesTls, tlsConfigError } from "./context.ts";
import { describeClient } from "./client_info.ts";
import { INVALID_SERVER_NAME, isValidServerName } from "./server_name.ts";

type Upgraded = Awaited<ReturnType<TlsUpgrader["upgrade"]>>;

/** One server's loaded TLS setup. */
interface PreparedTls {
  server: EffectiveServer;
  setup: ServerTls;
  secureContext: tls.SecureContext;
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
    prepared = { server, setup, secureContext: tls.createSecureContext(setup.context) };
  } catch (err) {
    throw tlsConfigError(err, server);
  }
  return { prepared, upgrade: (socket) => upgradeSocket(socket, [prepared]) };
}

/**
 * One upgrader for servers sharing an address: the client's SNI name picks the server
 * by server_name (exact, then `*.domain` wildcards); no SNI or an unknown name gets the
 * first one, the default server. The result names the chosen server.
 */
export function createSniTlsUpgrader(upgraders: ServerTlsUpgrader[]): TlsUpgrader {
  const candidates = upgraders.map((u) => u.prepared);
  return { upgrade: (socket) => upgradeSocket(socket, candidates) };
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

/** Throw away plaintext the client pipelined behind the upgrade command. */
function discardBuffered(raw: net.Socket): void {
  raw.pause();
  while (raw.readableLength > 0 && raw.read() !== null) {
    // dropped: it was sent before TLS and must never be executed after it
  }
}

/**
 * Deno's TLSSocket starts its handshake a tick after it is made; when the bytes already
 * there fail it (a bogus record, then a close), start() destroys the socket and Deno's
 * next line throws on the handle it just dropped, where nothing can catch it. The
 * failure itself reaches the upgrade as an "error"; whatever start() throws ends the
 * socket like any other failure instead of escaping as an uncaught exception.
 */
function startQuietly(secure: tls.TLSSocket): void {
  const socket = secure as unknown as { _start?: () => void };
  const start = socket._start;
  if (typeof start !== "function") return;
  socket._start = function (this: tls.TLSSocket) {
    try {
      start.call(this);
    } catch (err) {
      this.destroy(err as Error);
    }
  };
}

function upgradeSocket(raw: net.Socket, candidates: PreparedTls[]): Promise<Upgraded> {
  raw.removeAllListeners("data");
  discardBuffered(raw);
  const first = candidates[0]!;
  let chosen = first;
  /** The client's SNI name, as the callback saw it. */
  let sniName: string | undefined;
  return new Promise((resolve) => {
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: first.secureContext,
      // Asked before the SNI name is known: ask when any candidate verifies client certificates.
      requestCert: candidates.some((c) => c.setup.requestCert),
      rejectUnauthorized: false,
      ALPNProtocols: first.setup.alpn,
      ...(candidates.length > 1
        ? {
          SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
            // Deno reports a missing name as "".
            if (name && !isValidServerName(name)) return cb(new Error(INVALID_SERVER_NAME));
            sniName = name;
            chosen = pickByServerName(candidates, name);
            cb(null, chosen.secureContext);
          },
        }
        : {}),
    });
    startQuietly(secure);
    let done = false;
    const finish = (value: Upgraded) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      secure.removeListener("error", onError);
      secure.removeListener("close", onClose);
      if ("error" in value) {
        secure.destroy();
        raw.destroy();
      }
      resolve(value);
    };
    const onError = (err: Error) => finish({ error: err.message });
    const onClose = () => finish({ error: "connection closed by client" });
    // A client that stalls mid-handshake gets `timeout`, like nginx.
    const timer = setTimeout(() => finish({ error: "timed out" }), first.server.timeout);
    secure.on("error", onError);
    secure.on("close", onClose);
    secure.once("secure", () => {
      secure.pause();
      try {
        const { info, certLine } = describeClient(secure, chosen.server, chosen.setup.trust);
        const serverName = sniName ?? (secure as unknown as { servername?: string | false | null }).servername;
        if (serverName && !isValidServerName(serverName)) return finish({ error: INVALID_SERVER_NAME });
        // One spelling on every runtime (Deno lower-cases the name, Bun keeps the client's).
        if (serverName) info.serverName = serverName.toLowerCase();
        finish({
          socket: secure as unknown as net.Socket,
          info,
          ...(certLine ? { certLine } : {}),
          ...(chosen !== first ? { server: chosen.server } : {}),
        });
      } catch (err) {
        finish({ error: (err as Error).message });
      }
    });
    raw.resume();
  });
}
