/**
 * The facts of a finished handshake for the auth request (Auth-SSL-*) and the
 * client-certificate decision of protocols.md §1.6, from the socket's peer chain.
 */
import crypto from "node:crypto";
import type tls from "node:tls";
import type { EffectiveServer } from "../config/model.ts";
import type { ClientTlsInfo } from "../auth/types.ts";
import { type ClientTrust, UNTRUSTED_ISSUER_CODES, verifyClientChain } from "./client_verify.ts";

export type CertLine = "error" | "required";

/** DER certificates the client presented, its own first (walks node's issuerCertificate links). */
function presentedChain(secure: tls.TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert = secure.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert && cert.raw && !seen.has(cert.fingerprint256 ?? cert.raw.toString("base64"))) {
    seen.add(cert.fingerprint256 ?? cert.raw.toString("base64"));
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/** RFC 2253 form, most specific first: "O=Example\nCN=alice" -> "CN=alice,O=Example". */
export function rfc2253(name: string): string {
  return name.split("\n").filter((l) => l.length > 0).reverse().join(",");
}

/** PEM as PEM_write_bio_X509 writes it: 64-column base64 and a final newline. */
export function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * Protocol, cipher and (with ssl_verify_client) the verification result and
 * certificate fields; certLine says which line to send before closing, if any.
 */
export function describeClient(
  secure: tls.TLSSocket,
  server: EffectiveServer,
  trust: ClientTrust | undefined,
): { info: ClientTlsInfo; certLine?: CertLine } {
  const info: ClientTlsInfo = { protocol: secure.getProtocol() ?? "", cipher: secure.getCipher()?.name ?? "" };
  if (server.ssl_verify_client === "off" || !trust) return { info };
  const chain = presentedChain(secure);
  if (chain.length === 0) {
    info.verify = "NONE";
    return { info, certLine: server.ssl_verify_client === "on" ? "required" : undefined };
  }
  const leaf = new crypto.X509Certificate(chain[0]);
  const result = verifyClientChain(chain, trust);
  let certLine: CertLine | undefined;
  if (result.ok) info.verify = "SUCCESS";
  else {
    info.verify = `FAILED:${result.reason}`;
    const tolerated = server.ssl_verify_client === "optional_no_ca" && UNTRUSTED_ISSUER_CODES.has(result.code);
    if (!tolerated) certLine = "error";
  }
  info.subject = rfc2253(leaf.subject);
  info.issuer = rfc2253(leaf.issuer);
  info.serial = leaf.serialNumber.toUpperCase();
  info.fingerprint = crypto.createHash("sha1").update(chain[0]).digest("hex");
  if (server.auth_http_pass_client_cert) info.certPem = derToPem(chain[0]);
  return { info, certLine };
}
