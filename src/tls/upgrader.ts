/**
 * The one place that turns a plain client socket into TLS: implicit TLS right
 * after accept, and STARTTLS/STLS. Stops reading, drops buffered plaintext
 * (CVE-2011-0411 family), wraps, and resolves only once the handshake is done.
 */
import tls from "node:tls";
import type net from "node:net";
import crypto from "node:crypto";
import type { EffectiveServer } from "../config/model.ts";
import type { TlsUpgrader } from "../server/session.ts";
import type { ClientTlsInfo } from "../auth/types.ts";
import { serverTlsOptions, serverUsesTls } from "./context.ts";

export function createTlsUpgrader(server: EffectiveServer): TlsUpgrader | undefined {
  if (!serverUsesTls(server)) return undefined;
  const options = serverTlsOptions(server);
  const secureContext = tls.createSecureContext(options);
  return {
    upgrade: (socket) => upgradeSocket(socket, server, options, secureContext),
  };
}

function upgradeSocket(
  raw: net.Socket,
  server: EffectiveServer,
  options: tls.TlsOptions,
  secureContext: tls.SecureContext,
): ReturnType<TlsUpgrader["upgrade"]> {
  for (const event of ["data", "close", "error", "end"]) raw.removeAllListeners(event);
  raw.pause();
  while (raw.read() !== null) {
    // discard plaintext the client pipelined behind STARTTLS
  }
  return new Promise((resolve) => {
    const secure = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext,
      requestCert: options.requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: options.ALPNProtocols,
    });
    let done = false;
    const finish = (value: Awaited<ReturnType<TlsUpgrader["upgrade"]>>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!value) secure.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => finish(null), server.timeout);
    secure.once("error", () => finish(null));
    secure.once("close", () => finish(null));
    secure.once("secure", () => {
      secure.removeAllListeners("error");
      secure.removeAllListeners("close");
      secure.pause();
      finish(describe(secure, server));
    });
    raw.resume();
  });
}

function describe(secure: tls.TLSSocket, server: EffectiveServer) {
  const cipher = secure.getCipher();
  const info: ClientTlsInfo = {
    protocol: secure.getProtocol() ?? "",
    cipher: cipher?.name ?? "",
  };
  const sni = (secure as unknown as { servername?: string | false }).servername;
  if (sni) info.serverName = sni;
  let certLine: "error" | "required" | undefined;
  if (server.ssl_verify_client !== "off") {
    const peer = secure.getPeerCertificate(true);
    const present = peer && Object.keys(peer).length > 0;
    if (!present) {
      info.verify = "NONE";
      if (server.ssl_verify_client === "on") certLine = "required";
    } else {
      const error = secure.authorizationError ? String(secure.authorizationError) : undefined;
      info.verify = secure.authorized ? "SUCCESS" : `FAILED:${error ?? "unknown"}`;
      if (!secure.authorized) {
        const tolerated = server.ssl_verify_client === "optional_no_ca" && error !== undefined &&
          /SELF_SIGNED|UNABLE_TO_GET_ISSUER|UNABLE_TO_VERIFY_LEAF/.test(error);
        if (!tolerated) certLine = "error";
      }
      info.subject = dn(peer.subject as unknown as Record<string, string | string[]>);
      info.issuer = dn(peer.issuer as unknown as Record<string, string | string[]>);
      info.serial = peer.serialNumber?.toUpperCase();
      if (peer.raw) {
        info.fingerprint = crypto.createHash("sha1").update(peer.raw).digest("hex");
        if (server.auth_http_pass_client_cert) {
          const b64 = peer.raw.toString("base64").replace(/.{64}/g, "$&\n");
          info.certPem = `-----BEGIN CERTIFICATE-----\n${b64.replace(/\n$/, "")}\n-----END CERTIFICATE-----\n`;
        }
      }
    }
  }
  return { socket: secure as unknown as net.Socket, info, certLine };
}

/** RFC 2253 order (most specific first) from Node's certificate subject object. */
function dn(name: Record<string, string | string[]> | undefined): string | undefined {
  if (!name) return undefined;
  const parts: string[] = [];
  for (const [k, v] of Object.entries(name)) {
    for (const value of Array.isArray(v) ? v : [v]) parts.push(`${k}=${value.replace(/([,+"\\<>;])/g, "\\$1")}`);
  }
  return parts.reverse().join(",");
}
