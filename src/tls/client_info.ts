/**
 * The facts of a finished handshake for the auth request (Auth-SSL-*) and the
 * client-certificate decision of protocols.md §1.6, from the peer chain.
 */
import crypto from "node:crypto";
import type { TlsFacts } from "../net/socket.ts";
import type { EffectiveServer } from "../config/model.ts";
import { type ClientTrust, UNTRUSTED_ISSUER_CODES, verifyClientChain } from "./client_verify.ts";
import { parseCertificate } from "./x509.ts";
import { commonName, rfc2253 } from "./x509_name.ts";
import type { ClientTlsFacts } from "../wire/proxy_header.ts";

/** TLS facts of the client connection, for the Auth-SSL-* headers. */
export interface ClientTlsInfo {
  protocol: string;
  cipher: string;
  /** Present when ssl_verify_client is not off: SUCCESS, FAILED:<reason> or NONE. */
  verify?: string;
  subject?: string;
  issuer?: string;
  serial?: string;
  fingerprint?: string;
  /** The subject's most specific CN, decoded from the DER: for PROXY v2, not the auth request. */
  commonName?: string;
  /** PEM, sent only with auth_http_pass_client_cert on. */
  certPem?: string;
  /** SNI name the client asked for. */
  serverName?: string;
}

type CertLine = "error" | "required";

/** PEM as PEM_write_bio_X509 writes it: 64-column base64 and a final newline. */
function derToPem(der: Uint8Array): string {
  const b64 = Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n").replace(/\n$/, "");
  return `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`;
}

/**
 * Protocol, cipher and (with ssl_verify_client) the verification result and
 * certificate fields; certLine says which line to send before closing, if any.
 */
export function describeClient(
  facts: TlsFacts,
  server: EffectiveServer,
  trust: ClientTrust | undefined,
): { info: ClientTlsInfo; certLine?: CertLine } {
  const info: ClientTlsInfo = { protocol: facts.protocol, cipher: facts.cipher };
  if (server.ssl_verify_client === "off" || !trust) return { info };
  const chain = facts.peerChain;
  if (chain.length === 0) {
    info.verify = "NONE";
    return { info, certLine: server.ssl_verify_client === "on" ? "required" : undefined };
  }
  const result = verifyClientChain(chain, trust);
  let certLine: CertLine | undefined;
  if (result.ok) info.verify = "SUCCESS";
  else {
    info.verify = `FAILED:${result.reason}`;
    const tolerated = server.ssl_verify_client === "optional_no_ca" && UNTRUSTED_ISSUER_CODES.has(result.code);
    if (!tolerated) certLine = "error";
  }
  try {
    const leaf = parseCertificate(chain[0]);
    info.subject = rfc2253(leaf.subject);
    info.issuer = rfc2253(leaf.issuer);
    info.serial = leaf.serial;
    info.commonName = commonName(leaf.subject);
  } catch {
    // Not a certificate we can read: verification has already refused it.
  }
  info.fingerprint = crypto.createHash("sha1").update(chain[0]).digest("hex");
  if (server.auth_http_pass_client_cert) info.certPem = derToPem(chain[0]);
  return { info, certLine };
}

/** The handshake's facts as PROXY v2 TLVs carry them to the backend (protocols.md §7). */
export function proxyTlsFacts(info: ClientTlsInfo, alpn?: string): ClientTlsFacts {
  const presented = info.verify !== undefined && info.verify !== "NONE";
  return {
    version: info.protocol,
    cipher: info.cipher,
    serverName: info.serverName,
    alpn,
    clientCert: presented,
    verify: !presented ? 1 : info.verify === "SUCCESS" ? 0 : 1,
    clientCn: info.commonName,
  };
}
