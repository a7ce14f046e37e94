/**
 * Verifies a client certificate chain the way nginx (OpenSSL) reports it, in TypeScript:
 * Deno's node:tls never verifies client certificates (authorized stays false) and Bun's
 * error codes differ from OpenSSL's texts, so one verifier serves both runtimes.
 */
import crypto from "node:crypto";
import { type Crl, crlSignedBy, normalSerial } from "./crl.ts";

export interface ClientTrust {
  /** Trust anchors: ssl_client_certificate + ssl_trusted_certificate. */
  anchors: crypto.X509Certificate[];
  /** ssl_crl; when present every non-anchor certificate needs a CRL from its issuer. */
  crls?: Crl[];
  /** ssl_verify_depth: intermediate CAs allowed between the client certificate and an anchor. */
  depth: number;
}

/** OpenSSL's verification result texts (X509_verify_cert_error_string, OpenSSL 3). */
export const VERIFY_ERRORS = {
  UNABLE_TO_GET_ISSUER_CERT: "unable to get issuer certificate",
  UNABLE_TO_GET_CRL: "unable to get certificate CRL",
  CERT_SIGNATURE_FAILURE: "certificate signature failure",
  CERT_NOT_YET_VALID: "certificate is not yet valid",
  CERT_HAS_EXPIRED: "certificate has expired",
  CRL_HAS_EXPIRED: "CRL has expired",
  DEPTH_ZERO_SELF_SIGNED_CERT: "self-signed certificate",
  SELF_SIGNED_CERT_IN_CHAIN: "self-signed certificate in certificate chain",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: "unable to get local issuer certificate",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: "unable to verify the first certificate",
  CERT_CHAIN_TOO_LONG: "certificate chain too long",
  CERT_REVOKED: "certificate revoked",
} as const;

export type VerifyCode = keyof typeof VERIFY_ERRORS;

/** Errors that `ssl_verify_client optional_no_ca` tolerates (nginx's ngx_ssl_verify_error_optional). */
export const UNTRUSTED_ISSUER_CODES: ReadonlySet<VerifyCode> = new Set<VerifyCode>([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

export type VerifyResult = { ok: true } | { ok: false; code: VerifyCode; reason: string };

const fail = (code: VerifyCode): VerifyResult => ({ ok: false, code, reason: VERIFY_ERRORS[code] });

function issued(issuer: crypto.X509Certificate, subject: crypto.X509Certificate): boolean {
  try {
    return subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function selfSigned(cert: crypto.X509Certificate): boolean {
  return cert.subject === cert.issuer && issued(cert, cert);
}

/**
 * Build and check the chain from the client's certificate (first of `presented`) to an
 * anchor, using the other presented certificates as untrusted intermediates.
 * @example verifyClientChain([leafDer], { anchors: [ca], depth: 1 })
 */
export function verifyClientChain(presented: Uint8Array[], trust: ClientTrust, now = new Date()): VerifyResult {
  const certs = presented.map((der) => new crypto.X509Certificate(der));
  const leaf = certs[0];
  const pool = certs.slice(1);
  const chain = [leaf];
  let anchor: crypto.X509Certificate | undefined;
  for (;;) {
    const current = chain[chain.length - 1];
    anchor = trust.anchors.find((a) => issued(a, current));
    if (anchor) break;
    if (selfSigned(current)) return fail(chain.length === 1 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN");
    const next = pool.find((c) => !chain.includes(c) && issued(c, current));
    if (!next) {
      if (chain.length === 1) {
        return fail(current.subject === current.issuer ? "CERT_SIGNATURE_FAILURE" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
      }
      return fail("UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
    }
    chain.push(next);
  }
  // A certificate that is itself an anchor ends the chain there.
  if (chain.length - 1 > trust.depth) return fail("CERT_CHAIN_TOO_LONG");
  for (const cert of [...chain, anchor]) {
    if (now < new Date(cert.validFrom)) return fail("CERT_NOT_YET_VALID");
    if (now > new Date(cert.validTo)) return fail("CERT_HAS_EXPIRED");
  }
  if (trust.crls) {
    const issuers = [...chain.slice(1), anchor];
    for (let i = 0; i < chain.length; i++) {
      const crl = trust.crls.find((c) => crlSignedBy(c, issuers[i]));
      if (!crl) return fail("UNABLE_TO_GET_CRL");
      if (crl.nextUpdate && now > crl.nextUpdate) return fail("CRL_HAS_EXPIRED");
      if (crl.revoked.has(normalSerial(chain[i].serialNumber))) return fail("CERT_REVOKED");
    }
  }
  return { ok: true };
}
