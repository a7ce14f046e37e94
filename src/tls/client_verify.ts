/**
 * Verifies a client certificate chain the way nginx (OpenSSL 3) does for ssl_verify_client:
 * RFC 5280 path validation for the purpose "SSL client", step by step as X509_verify_cert
 * (build the chain, check extensions and purpose, CRLs, then signatures and validity).
 * Deno's node:tls never verifies client certificates (authorized stays false) and Bun's
 * error codes differ from OpenSSL's texts, so one verifier serves both runtimes.
 *
 * nginx's verify callback accepts every error so that the handshake goes on; what it
 * reports is the error OpenSSL met last. This verifier collects errors in OpenSSL's
 * order and reports the last one, so the text in `Auth-SSL-Verify: FAILED:<text>` is nginx's.
 */
import crypto from "node:crypto";
import { type Crl, crlSignedBy, normalSerial } from "./crl.ts";
import {
  type Certificate,
  EKU_CLIENT_AUTH,
  KU_CRL_SIGN,
  KU_DIGITAL_SIGNATURE,
  KU_KEY_AGREEMENT,
  KU_KEY_CERT_SIGN,
  NS_ANY_CA,
  NS_SSL_CA,
  NS_SSL_CLIENT,
  parseCertificate,
} from "./x509.ts";
import { sameName } from "./x509_name.ts";

export interface ClientTrust {
  /** Trust anchors: ssl_client_certificate + ssl_trusted_certificate. */
  anchors: Certificate[];
  /** ssl_crl; when present every certificate of the chain needs a CRL from its issuer. */
  crls?: Crl[];
  /** ssl_verify_depth: intermediate CAs allowed between the client certificate and an anchor. */
  depth: number;
}

/** OpenSSL's verification result texts (X509_verify_cert_error_string, OpenSSL 3). */
const VERIFY_ERRORS = {
  UNSPECIFIED: "unspecified certificate verification error",
  UNABLE_TO_GET_ISSUER_CERT: "unable to get issuer certificate",
  UNABLE_TO_GET_CRL: "unable to get certificate CRL",
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: "unable to decode issuer public key",
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
  INVALID_CA: "invalid CA certificate",
  PATH_LENGTH_EXCEEDED: "path length constraint exceeded",
  INVALID_PURPOSE: "unsuitable certificate purpose",
  KEYUSAGE_NO_CERTSIGN: "key usage does not include certificate signing",
  UNHANDLED_CRITICAL_EXTENSION: "unhandled critical extension",
  KEYUSAGE_NO_CRL_SIGN: "key usage does not include CRL signing",
  KEYUSAGE_NO_DIGITAL_SIGNATURE: "key usage does not include digital signature",
  PROXY_CERTIFICATES_NOT_ALLOWED: "proxy certificates not allowed, please set the appropriate flag",
  UNSUPPORTED_CONSTRAINT_TYPE: "unsupported name constraint type",
} as const;

type VerifyCode = keyof typeof VERIFY_ERRORS;

/** Errors that `ssl_verify_client optional_no_ca` tolerates (nginx's ngx_ssl_verify_error_optional). */
export const UNTRUSTED_ISSUER_CODES: ReadonlySet<VerifyCode> = new Set<VerifyCode>([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

type VerifyResult = { ok: true } | { ok: false; code: VerifyCode; reason: string };

/** OpenSSL's ossl_x509_likely_issued: names, key identifiers and key type agree (no signature check). */
function likelyIssued(issuer: Certificate, subject: Certificate): boolean {
  if (issuer.invalid || subject.invalid || !sameName(issuer.subject, subject.issuer)) return false;
  const akid = subject.authorityKeyId;
  if (akid?.keyId !== undefined && issuer.subjectKeyId !== undefined && akid.keyId !== issuer.subjectKeyId) return false;
  if (akid?.serial !== undefined && akid.serial !== issuer.serial) return false;
  const sig = subject.signatureFamily;
  return sig !== undefined && (sig === issuer.keyFamily || (sig === "rsa-pss" && issuer.keyFamily === "rsa"));
}

const selfSigned = (c: Certificate) => likelyIssued(c, c);
const sameDer = (a: Certificate, b: Certificate) => Buffer.compare(a.der, b.der) === 0;

/** Validity errors as OpenSSL finds them: whole seconds, valid while notBefore <= now < notAfter. */
function timeErrors(c: Certificate, now: number): VerifyCode[] {
  const errors: VerifyCode[] = [];
  if (c.notBefore.getTime() > now) errors.push("CERT_NOT_YET_VALID");
  if (c.notAfter.getTime() <= now) errors.push("CERT_HAS_EXPIRED");
  return errors;
}

/** The issuer among candidates: a currently valid one first, else the one expiring last (get1_issuer). */
function pickIssuer(candidates: Certificate[], subject: Certificate, now: number): Certificate | undefined {
  let fallback: Certificate | undefined;
  for (const c of candidates) {
    if (!likelyIssued(c, subject)) continue;
    if (timeErrors(c, now).length === 0) return c;
    if (!fallback || c.notAfter > fallback.notAfter) fallback = c;
  }
  return fallback;
}

/** X509_check_ca: 0 = not a CA, 1 = basicConstraints CA, 3 = v1 root, 4 = keyUsage only, 5 = Netscape CA. */
function caKind(c: Certificate): number {
  if (c.invalid) return 0;
  if (c.keyUsage !== undefined && !(c.keyUsage & KU_KEY_CERT_SIGN)) return 0;
  if (c.basicConstraints) return c.basicConstraints.ca ? 1 : 0;
  if (c.version === 1 && selfSigned(c)) return 3;
  if (c.keyUsage !== undefined) return 4;
  if (c.nsCertType !== undefined && c.nsCertType & NS_ANY_CA) return 5;
  return 0;
}

/** X509_check_purpose(x, X509_PURPOSE_SSL_CLIENT, requireCa): false only on a definite refusal. */
function suitsSslClient(c: Certificate, requireCa: boolean): boolean {
  if (c.invalid) return true; // OpenSSL answers -1, which only strict mode refuses
  if (c.extKeyUsage && !c.extKeyUsage.includes(EKU_CLIENT_AUTH)) return false;
  if (requireCa) {
    const kind = caKind(c);
    return kind !== 0 && (kind !== 5 || (c.nsCertType! & NS_SSL_CA) !== 0);
  }
  if (c.keyUsage !== undefined && !(c.keyUsage & (KU_DIGITAL_SIGNATURE | KU_KEY_AGREEMENT))) return false;
  if (c.nsCertType !== undefined && !(c.nsCertType & NS_SSL_CLIENT)) return false;
  return true;
}

/** build_chain: the chain from the leaf towards a self-signed anchor, and what stopped it. */
function buildChain(leaf: Certificate, pool: Certificate[], anchors: Certificate[], depth: number, now: number, report: (e: VerifyCode) => void): Certificate[] {
  const maxDepth = Math.min(depth, 1000) + 1;
  const chain = [leaf];
  let numUntrusted = 1;
  let trusted = false;
  let searchUntrusted = true;
  let searchTrusted = true;
  while (searchUntrusted || searchTrusted) {
    if (searchTrusted) {
      const current = chain[chain.length - 1];
      const issuer = chain.length > maxDepth ? undefined : pickIssuer(anchors, current, now);
      const currentSelfSigned = selfSigned(current);
      // A self-signed certificate counts only when it is the anchor itself, not a look-alike.
      if (issuer && (!currentSelfSigned || sameDer(current, issuer))) {
        if (currentSelfSigned) {
          chain[chain.length - 1] = issuer;
          numUntrusted = chain.length - 1;
        } else chain.push(issuer);
        searchUntrusted = false;
        trusted = chain.slice(numUntrusted).some(selfSigned);
        if (trusted) break;
        if (!currentSelfSigned && !selfSigned(issuer)) continue;
      }
      if (!searchUntrusted) break;
    }
    const current = chain[chain.length - 1];
    const issuer = selfSigned(current) || chain.length > maxDepth
      ? undefined
      : pickIssuer(pool, current, now);
    if (!issuer) {
      searchUntrusted = false;
      searchTrusted = true;
      continue;
    }
    pool.splice(pool.indexOf(issuer), 1);
    chain.push(issuer);
    numUntrusted++;
  }
  if (trusted) return chain;
  const top = chain[chain.length - 1];
  // OpenSSL goes on after "too long" to say why no anchor was found, and nginx reports that.
  if (chain.length > maxDepth) report("CERT_CHAIN_TOO_LONG");
  if (selfSigned(top)) report(chain.length === 1 ? "DEPTH_ZERO_SELF_SIGNED_CERT" : "SELF_SIGNED_CERT_IN_CHAIN");
  else report(numUntrusted < chain.length ? "UNABLE_TO_GET_ISSUER_CERT" : "UNABLE_TO_GET_ISSUER_CERT_LOCALLY");
  return chain;
}

/** check_extensions: critical extensions, CA flags, purpose and path length of every member. */
function checkExtensions(chain: Certificate[], report: (e: VerifyCode) => void): void {
  let pathLength = 0;
  chain.forEach((c, i) => {
    if (c.unhandledCritical) report("UNHANDLED_CRITICAL_EXTENSION");
    if (c.proxy) report("PROXY_CERTIFICATES_NOT_ALLOWED");
    // The leaf may be anything; an issuer must be a CA, and below the top one by basicConstraints.
    const kind = caKind(c);
    if (i > 0 && (kind === 0 || (i + 1 < chain.length && kind !== 1))) report("INVALID_CA");
    if (!suitsSslClient(c, i > 0)) report("INVALID_PURPOSE");
    const pathLen = c.basicConstraints?.pathLen;
    if (i > 1 && pathLen !== undefined && pathLength > pathLen) report("PATH_LENGTH_EXCEEDED");
    if (i > 0 && !sameName(c.subject, c.issuer)) pathLength++;
  });
}

/** check_revocation with CRL_CHECK_ALL, as ssl_crl sets it: every member needs its issuer's CRL. */
function checkRevocation(chain: Certificate[], crls: Crl[], now: number, report: (e: VerifyCode) => void): void {
  chain.forEach((c, i) => {
    const issuer = chain[Math.min(i + 1, chain.length - 1)];
    const issuerX509 = new crypto.X509Certificate(issuer.der);
    const crl = crls.find((candidate) => crlSignedBy(candidate, issuerX509));
    if (!crl) return report("UNABLE_TO_GET_CRL");
    if (issuer.keyUsage !== undefined && !(issuer.keyUsage & KU_CRL_SIGN)) report("KEYUSAGE_NO_CRL_SIGN");
    if (crl.nextUpdate && crl.nextUpdate.getTime() <= now) report("CRL_HAS_EXPIRED");
    if (crl.revoked.has(normalSerial(c.serial))) report("CERT_REVOKED");
  });
}

function signedBy(subject: Certificate, issuer: Certificate): boolean | "no key" {
  let key: crypto.KeyObject;
  try {
    key = new crypto.X509Certificate(issuer.der).publicKey;
  } catch {
    return "no key";
  }
  try {
    return new crypto.X509Certificate(subject.der).verify(key);
  } catch {
    return false;
  }
}

/** internal_verify: signatures (and the issuer's keyUsage) and validity, from the top down. */
function checkSignaturesAndTimes(chain: Certificate[], now: number, report: (e: VerifyCode) => void): void {
  let n = chain.length - 1;
  let issuer = chain[n];
  let subject = issuer;
  if (!selfSigned(issuer)) {
    if (n === 0) report("UNABLE_TO_VERIFY_LEAF_SIGNATURE");
    else subject = chain[--n];
  }
  for (;;) {
    if (subject !== issuer) {
      if (issuer.keyUsage !== undefined) {
        if (subject.proxy && !(issuer.keyUsage & KU_DIGITAL_SIGNATURE)) report("KEYUSAGE_NO_DIGITAL_SIGNATURE");
        if (!subject.proxy && !(issuer.keyUsage & KU_KEY_CERT_SIGN)) report("KEYUSAGE_NO_CERTSIGN");
      }
      const signed = signedBy(subject, issuer);
      if (signed === "no key") report("UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY");
      else if (!signed) report("CERT_SIGNATURE_FAILURE");
    }
    timeErrors(subject, now).forEach(report);
    if (--n < 0) return;
    issuer = subject;
    subject = chain[n];
  }
}

/**
 * Build and check the chain from the client's certificate (first of `presented`) to an
 * anchor, using the other presented certificates as untrusted intermediates.
 * @example verifyClientChain([leafDer], { anchors: [parseCertificate(caDer)], depth: 1 })
 */
export function verifyClientChain(presented: Uint8Array[], trust: ClientTrust, at = new Date()): VerifyResult {
  const now = Math.floor(at.getTime() / 1000) * 1000;
  const errors: VerifyCode[] = [];
  const report = (e: VerifyCode) => void errors.push(e);
  const parsed = presented.map((der) => {
    try {
      return parseCertificate(der);
    } catch {
      return undefined;
    }
  });
  const leaf = parsed[0];
  if (!leaf) return { ok: false, code: "UNSPECIFIED", reason: VERIFY_ERRORS.UNSPECIFIED };
  const pool = parsed.slice(1).filter((c): c is Certificate => c !== undefined);
  const chain = buildChain(leaf, pool, trust.anchors, trust.depth, now, report);
  checkExtensions(chain, report);
  if (trust.crls) checkRevocation(chain, trust.crls, now, report);
  checkSignaturesAndTimes(chain, now, report);
  // Name constraints are not evaluated here; refuse rather than accept what OpenSSL might refuse.
  if (chain.slice(1).some((c) => c.nameConstraints)) report("UNSUPPORTED_CONSTRAINT_TYPE");
  const last = errors[errors.length - 1];
  return last ? { ok: false, code: last, reason: VERIFY_ERRORS[last] } : { ok: true };
}
