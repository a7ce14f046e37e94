/**
 * TLS from the proxy to a backend (beyond nginx): the client-side options from the
 * proxy_ssl_* directives, and one handshake over an already connected socket (implicit
 * TLS right after connect, or after the STARTTLS preamble). Verification is done here,
 * after the handshake, so that the name checked (`proxy_ssl_name`) does not depend on
 * whether it is also sent as SNI (`proxy_ssl_server_name`).
 */
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import type { EffectiveServer } from "../config/model.ts";
import type { UpstreamTlsMode } from "../auth/types.ts";
import { type TlsRuntime, tlsRuntime } from "../runtime.ts";
import type { ClientTlsOptions, NetSocket } from "../net/socket.ts";
import { ConfigError, type ConfigErrorCode, ValueError } from "../config/errors.ts";
import { tlsConfigError } from "../tls/context.ts";

/** What one backend connection needs for its handshake. */
export interface UpstreamTlsSetup {
  /** Implicit TLS right after connect, or STARTTLS/STLS first. */
  mode: "ssl" | "starttls";
  options: ClientTlsOptions;
  verify: boolean;
  /** The name the certificate must carry. */
  name: string;
}

type HandshakeOutcome =
  | { type: "ok" }
  /** `reason` is the whole log line, nginx-style. */
  | { type: "fail"; reason: string };

const VERSION_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

/**
 * The TLS mode for this login: the auth service's `Auth-SSL-Upstream` wins over the
 * server's proxy_ssl / proxy_starttls; undefined = plaintext.
 */
export function upstreamTlsMode(server: EffectiveServer, fromAuth?: UpstreamTlsMode): "ssl" | "starttls" | undefined {
  const mode = fromAuth ?? (server.proxy_ssl ? "on" : server.proxy_starttls ? "starttls" : "off");
  return mode === "on" ? "ssl" : mode === "starttls" ? "starttls" : undefined;
}

function read(file: string, what: string): string {
  try {
    return fs.readFileSync(file, "latin1");
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new ValueError("tls_file", `cannot load ${what} "${file}": ${reason}`);
  }
}

/** Files are read once per server configuration. */
const filesOfServer = new WeakMap<EffectiveServer, ClientTlsOptions>();

function fileOptions(server: EffectiveServer): ClientTlsOptions {
  let options = filesOfServer.get(server);
  if (options) return options;
  options = {};
  if (server.proxy_ssl_trusted_certificate) options.ca = read(server.proxy_ssl_trusted_certificate, "proxy_ssl_trusted_certificate");
  if (server.proxy_ssl_certificate) {
    options.cert = read(server.proxy_ssl_certificate, "proxy_ssl_certificate");
    options.key = read(server.proxy_ssl_certificate_key ?? server.proxy_ssl_certificate, "proxy_ssl_certificate_key");
  }
  filesOfServer.set(server, options);
  return options;
}

/**
 * The handshake setup for one backend host; throws when a file cannot be read.
 * @example const setup = upstreamTlsSetup(server, "127.0.0.1", "ssl");
 */
export function upstreamTlsSetup(server: EffectiveServer, host: string, mode: "ssl" | "starttls"): UpstreamTlsSetup {
  const name = server.proxy_ssl_name ?? host;
  const versions = VERSION_ORDER.filter((v) => server.proxy_ssl_protocols.includes(v));
  const options: ClientTlsOptions = {
    ...fileOptions(server),
    minVersion: versions[0] ?? "TLSv1.2",
    maxVersion: versions[versions.length - 1] ?? "TLSv1.3",
    // Only an explicit SNI: an IP literal or "off" sends none.
    servername: server.proxy_ssl_server_name && !net.isIP(name) ? name : "",
  };
  if (server.proxy_ssl_ciphers !== "DEFAULT") options.ciphers = server.proxy_ssl_ciphers;
  return { mode, options, verify: server.proxy_ssl_verify, name };
}

/** OpenSSL's X509 verify codes and texts, for nginx's wording of a verify error. */
const VERIFY_ERRORS: Record<string, string> = {
  CERT_HAS_EXPIRED: "10:certificate has expired",
  CERT_NOT_YET_VALID: "9:certificate is not yet valid",
  DEPTH_ZERO_SELF_SIGNED_CERT: "18:self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "19:self-signed certificate in certificate chain",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "20:unable to get local issuer certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "21:unable to verify the first certificate",
  UNABLE_TO_GET_ISSUER_CERT: "2:unable to get issuer certificate",
  CERT_REVOKED: "23:certificate revoked",
  CERT_UNTRUSTED: "27:certificate not trusted",
  CERT_REJECTED: "28:certificate rejected",
};

const WHILE = "while SSL handshaking to upstream";

/** The log line for a failed verification, or undefined when the certificate is good for `setup.name`. */
function verifyError(shaken: { authorizationError?: string; peerCertificate?: tls.PeerCertificate }, setup: UpstreamTlsSetup): string | undefined {
  const code = shaken.authorizationError;
  // The runtime checks the name against the SNI (or host); ours is proxy_ssl_name, checked below.
  if (code && code !== "ERR_TLS_CERT_ALTNAME_INVALID") {
    return `upstream SSL certificate verify error: (${VERIFY_ERRORS[code] ?? code}) ${WHILE}`;
  }
  const cert = shaken.peerCertificate;
  if (!cert) return `upstream sent no required SSL certificate ${WHILE}`;
  if (tls.checkServerIdentity(setup.name, cert) !== undefined) {
    return `upstream SSL certificate does not match "${setup.name}" ${WHILE}`;
  }
  return undefined;
}

/**
 * Handshake over `socket` (the socket layer stops delivering its data meanwhile);
 * resolves once, never rejects. On failure the socket is destroyed.
 */
export async function handshakeUpstream(socket: NetSocket, setup: UpstreamTlsSetup): Promise<HandshakeOutcome> {
  const shaken = await socket.startTlsClient(setup.options);
  if (shaken.type === "error") return { type: "fail", reason: `SSL_do_handshake() failed (${shaken.message}) ${WHILE}` };
  if (shaken.type === "closed") return { type: "fail", reason: `upstream prematurely closed connection ${WHILE}` };
  const problem = setup.verify ? verifyError(shaken, setup) : undefined;
  if (!problem) return { type: "ok" };
  socket.owner = undefined;
  socket.destroy();
  return { type: "fail", reason: problem };
}

/**
 * What is wrong with the server's proxy_ssl_* settings on this runtime (files that
 * cannot be read, a key without certificate, a cipher list the runtime ignores).
 * Files are checked whenever they are set, even without proxy_ssl/proxy_starttls: the
 * auth service may ask for TLS per login (Auth-SSL-Upstream). Each a ConfigError at the
 * server's place.
 */
export function checkUpstreamTlsConfig(server: EffectiveServer, runtime: TlsRuntime = tlsRuntime()): ConfigError[] {
  const problems: ConfigError[] = [];
  const problem = (code: ConfigErrorCode, reason: string) => problems.push(new ConfigError(code, reason, server.source));
  if (server.proxy_ssl_certificate_key && !server.proxy_ssl_certificate) {
    problem("no_certificate", `no "proxy_ssl_certificate" for "proxy_ssl_certificate_key"`);
  }
  try {
    filesOfServer.delete(server);
    fileOptions(server);
  } catch (err) {
    problems.push(tlsConfigError(err, server));
  }
  if (server.proxy_ssl_ciphers !== "DEFAULT" && !runtime.cipherList) {
    problem("tls_unsupported", `"proxy_ssl_ciphers ${server.proxy_ssl_ciphers}" is not supported on ${runtime.name} ` +
      `(its node:tls runs on ${runtime.library}, which ignores cipher lists)`);
  }
  const legacy = server.proxy_ssl_protocols.filter((p) => p === "SSLv2" || p === "SSLv3" ||
    ((p === "TLSv1" || p === "TLSv1.1") && !runtime.legacyProtocols));
  if (legacy.length) {
    problem("tls_unsupported", `"proxy_ssl_protocols ${legacy.join(" ")}" is not supported on ${runtime.name} ` +
      `(its node:tls runs on ${runtime.library}, which has no such protocol versions)`);
  }
  return problems;
}
