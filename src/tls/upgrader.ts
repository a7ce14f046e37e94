/**
 * The one place that turns a plain client socket into TLS: implicit TLS right after
 * accept, and STARTTLS/STLS. Stops reading, drops buffered plaintext (CVE-2011-0411
 * family), wraps, and resolves only once the handshake is done or has failed.
 */
import tls from "node:tls";
import type net from "node:net";
import type { EffectiveServer } from "../config/model.ts";
import type { TlsUpgrader } from "../server/session.ts";
import { buildServerTls, type ServerTls, serverUsesTls } from "./context.ts";
import { describeClient } from "./client_info.ts";

type Upgraded = Awaited<ReturnType<TlsUpgrader["upgrade"]>>;

/**
 * The upgrader of one server, or undefined when the server uses no TLS. Throws when a
 * certificate, key or other TLS file cannot be loaded.
 * @example const upgrader = createTlsUpgrader(server); const up = await upgrader?.upgrade(socket);
 */
export function createTlsUpgrader(server: EffectiveServer): TlsUpgrader | undefined {
  if (!serverUsesTls(server)) return undefined;
  const setup = buildServerTls(server);
  const secureContext = tls.createSecureContext(setup.context);
  return { upgrade: (socket) => upgradeSocket(socket, server, setup, secureContext) };
}

/** Throw away plaintext the client pipelined behind the upgrade command. */
function discardBuffered(raw: net.Socket): void {
  raw.pause();
  while (raw.readableLength > 0 && raw.read() !== null) {
    // dropped: it was sent before TLS and must never be executed after it
  }
}

function upgradeSocket(raw: net.Socket, server: EffectiveServer, setup: ServerTls, secureContext: tls.SecureContext): Promise<Upgraded> {
  raw.removeAllListeners("data");
  discardBuffered(raw);
  return new Promise((resolve) => {
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext,
      requestCert: setup.requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: setup.alpn,
    });
    let done = false;
    const finish = (value: Upgraded) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      secure.removeListener("error", onFailure);
      secure.removeListener("close", onFailure);
      if (!value) {
        secure.destroy();
        raw.destroy();
      }
      resolve(value);
    };
    const onFailure = () => finish(null);
    // A client that stalls mid-handshake gets `timeout`, like nginx.
    const timer = setTimeout(onFailure, server.timeout);
    secure.on("error", onFailure);
    secure.on("close", onFailure);
    secure.once("secure", () => {
      secure.pause();
      try {
        const { info, certLine } = describeClient(secure, server, setup.trust);
        finish({ socket: secure as unknown as net.Socket, info, ...(certLine ? { certLine } : {}) });
      } catch {
        finish(null);
      }
    });
    raw.resume();
  });
}
