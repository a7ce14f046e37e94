/**
 * The facts of an X.509 certificate that path validation and the Auth-SSL-* headers
 * need, read from the DER with the small reader of der.ts. node:crypto's X509Certificate
 * differs between Bun and Deno (Deno has no `ca`/`keyUsage`, names are formatted
 * differently), so one parser serves both runtimes.
 */
import { children, derTime, hex, oid, readTlv, type Tlv } from "./der.ts";
import { type Name, parseName } from "./x509_name.ts";

/** keyUsage bits as OpenSSL stores them (first byte of the BIT STRING). */
export const KU_DIGITAL_SIGNATURE = 0x80;
export const KU_KEY_AGREEMENT = 0x08;
export const KU_KEY_CERT_SIGN = 0x04;
export const KU_CRL_SIGN = 0x02;
/** Netscape certificate type bits. */
export const NS_SSL_CLIENT = 0x80;
export const NS_SSL_CA = 0x04;
export const NS_ANY_CA = 0x07;

export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

/** Critical extensions OpenSSL understands (X509_supported_extension); any other critical one is refused. */
const SUPPORTED_EXTENSIONS = new Set([
  "2.16.840.1.113730.1.1", // nsCertType
  "2.5.29.15", // keyUsage
  "2.5.29.17", // subjectAltName
  "2.5.29.19", // basicConstraints
  "2.5.29.32", // certificatePolicies
  "2.5.29.31", // cRLDistributionPoints
  "2.5.29.37", // extKeyUsage
  "1.3.6.1.5.5.7.1.7", // sbgp-ipAddrBlock
  "1.3.6.1.5.5.7.1.8", // sbgp-autonomousSysNum
  "1.3.6.1.5.5.7.48.1.5", // OCSP noCheck
  "2.5.29.36", // policyConstraints
  "1.3.6.1.5.5.7.1.14", // proxyCertInfo
  "2.5.29.30", // nameConstraints
  "2.5.29.33", // policyMappings
  "2.5.29.54", // inhibitAnyPolicy
]);

/** Signature algorithms and public key algorithms by key family, for OpenSSL's check_sig_alg_match. */
const SIGNATURE_FAMILY: Record<string, string> = {
  "1.2.840.113549.1.1.2": "rsa", "1.2.840.113549.1.1.3": "rsa", "1.2.840.113549.1.1.4": "rsa",
  "1.2.840.113549.1.1.5": "rsa", "1.2.840.113549.1.1.11": "rsa", "1.2.840.113549.1.1.12": "rsa",
  "1.2.840.113549.1.1.13": "rsa", "1.2.840.113549.1.1.14": "rsa", "1.2.840.113549.1.1.15": "rsa",
  "1.2.840.113549.1.1.16": "rsa", "2.16.840.1.101.3.4.3.13": "rsa", "2.16.840.1.101.3.4.3.14": "rsa",
  "2.16.840.1.101.3.4.3.15": "rsa", "2.16.840.1.101.3.4.3.16": "rsa",
  "1.2.840.113549.1.1.10": "rsa-pss",
  "1.2.840.10045.4.1": "ec", "1.2.840.10045.4.3.1": "ec", "1.2.840.10045.4.3.2": "ec", "1.2.840.10045.4.3.3": "ec",
  "1.2.840.10045.4.3.4": "ec", "2.16.840.1.101.3.4.3.9": "ec", "2.16.840.1.101.3.4.3.10": "ec",
  "2.16.840.1.101.3.4.3.11": "ec", "2.16.840.1.101.3.4.3.12": "ec",
  "1.3.101.112": "ed25519", "1.3.101.113": "ed448",
  "1.2.840.10040.4.3": "dsa", "2.16.840.1.101.3.4.3.1": "dsa", "2.16.840.1.101.3.4.3.2": "dsa",
};
const KEY_FAMILY: Record<string, string> = {
  "1.2.840.113549.1.1.1": "rsa", "1.2.840.113549.1.1.10": "rsa-pss", "1.2.840.10045.2.1": "ec",
  "1.3.101.112": "ed25519", "1.3.101.113": "ed448", "1.2.840.10040.4.1": "dsa",
};

export interface Certificate {
  der: Uint8Array;
  /** 1 for a v1 certificate (no version field), else 3 (or 2). */
  version: number;
  /** Serial number as OpenSSL prints it (i2a_ASN1_INTEGER): uppercase hex, "-" when negative. */
  serial: string;
  issuer: Name;
  subject: Name;
  notBefore: Date;
  notAfter: Date;
  /** Key family of the subject public key; signatureFamily of the algorithm that signed this certificate. */
  keyFamily?: string;
  signatureFamily?: string;
  /** basicConstraints: present, cA, pathLenConstraint (undefined = none). */
  basicConstraints?: { ca: boolean; pathLen?: number };
  keyUsage?: number;
  extKeyUsage?: string[];
  nsCertType?: number;
  subjectKeyId?: string;
  authorityKeyId?: { keyId?: string; serial?: string };
  nameConstraints: boolean;
  proxy: boolean;
  /** A critical extension OpenSSL does not handle. */
  unhandledCritical: boolean;
  /** An extension OpenSSL fails to decode, or a repeated one (EXFLAG_INVALID). */
  invalid: boolean;
}

function integerHex(content: Uint8Array): string {
  if (content.length === 0) return "00";
  if (content[0] & 0x80) {
    // Negative: two's complement magnitude.
    const mag = Array.from(content, (b) => ~b & 0xff);
    for (let i = mag.length - 1; i >= 0; i--) {
      if (++mag[i] <= 0xff) break;
      mag[i] = 0;
    }
    return `-${hex(Uint8Array.from(mag.slice(mag.findIndex((b) => b !== 0))))}`;
  }
  const start = content.length > 1 && content[0] === 0 ? 1 : 0;
  return hex(content.subarray(start));
}

/** The first byte of a BIT STRING's bits (0 when it has none). */
function bitsByte(t: Tlv): number {
  if (t.tag !== 0x03 || t.value.length === 0) throw new Error("bad BIT STRING");
  return t.value.length > 1 ? t.value[1] : 0;
}

/** Extensions read below; OpenSSL decodes these, so a malformed one marks the certificate invalid. */
const DECODED_EXTENSIONS = new Set([
  "2.5.29.19", "2.5.29.15", "2.16.840.1.113730.1.1", "2.5.29.37", "2.5.29.14", "2.5.29.35", "2.5.29.30", "1.3.6.1.5.5.7.1.14",
]);

function applyExtension(cert: Certificate, id: string, value: Uint8Array): void {
  if (!DECODED_EXTENSIONS.has(id)) return;
  const t = readTlv(value);
  if (t.end !== value.length) throw new Error("trailing data");
  switch (id) {
    case "2.5.29.19": {
      if (t.tag !== 0x30) throw new Error("bad basicConstraints");
      const parts = children(t.value);
      let i = 0;
      let ca = false;
      if (parts[i]?.tag === 0x01) ca = parts[i++].value[0] !== 0;
      let pathLen: number | undefined;
      if (parts[i]?.tag === 0x02) {
        const n = parts[i++].value;
        if (n[0] & 0x80) throw new Error("negative pathLenConstraint");
        pathLen = n.reduce((acc, b) => acc * 256 + b, 0);
      }
      if (i !== parts.length) throw new Error("bad basicConstraints");
      cert.basicConstraints = { ca, pathLen };
      return;
    }
    case "2.5.29.15":
      cert.keyUsage = bitsByte(t);
      return;
    case "2.16.840.1.113730.1.1":
      cert.nsCertType = bitsByte(t);
      return;
    case "2.5.29.37":
      if (t.tag !== 0x30) throw new Error("bad extKeyUsage");
      cert.extKeyUsage = children(t.value).map((o) => {
        if (o.tag !== 0x06) throw new Error("bad extKeyUsage");
        return oid(o.value);
      });
      return;
    case "2.5.29.14":
      if (t.tag !== 0x04) throw new Error("bad subjectKeyIdentifier");
      cert.subjectKeyId = hex(t.value);
      return;
    case "2.5.29.35": {
      if (t.tag !== 0x30) throw new Error("bad authorityKeyIdentifier");
      const akid: { keyId?: string; serial?: string } = {};
      for (const part of children(t.value)) {
        if (part.tag === 0x80) akid.keyId = hex(part.value);
        if (part.tag === 0x82) akid.serial = integerHex(part.value);
      }
      cert.authorityKeyId = akid;
      return;
    }
    case "2.5.29.30":
      cert.nameConstraints = true;
      return;
    case "1.3.6.1.5.5.7.1.14":
      cert.proxy = true;
      return;
  }
}

/** Parse a DER certificate; throws when its structure is not a certificate. */
export function parseCertificate(der: Uint8Array): Certificate {
  const top = readTlv(der);
  const [tbs, sigAlg] = children(top.value);
  if (top.tag !== 0x30 || !tbs || tbs.tag !== 0x30 || !sigAlg) throw new Error("not a certificate");
  const f = children(tbs.value);
  let i = 0;
  let version = 1;
  if (f[i]?.tag === 0xa0) version = children(f[i++].value)[0].value[0] + 1;
  const serial = f[i++];
  const signature = f[i++];
  const issuer = f[i++];
  const validity = f[i++];
  const subject = f[i++];
  const spki = f[i++];
  if (!serial || serial.tag !== 0x02 || !spki) throw new Error("not a certificate");
  const [notBefore, notAfter] = children(validity.value);
  const cert: Certificate = {
    der,
    version,
    serial: integerHex(serial.value),
    issuer: parseName(issuer),
    subject: parseName(subject),
    notBefore: derTime(notBefore.tag, notBefore.value),
    notAfter: derTime(notAfter.tag, notAfter.value),
    keyFamily: KEY_FAMILY[oid(children(children(spki.value)[0].value)[0].value)],
    signatureFamily: SIGNATURE_FAMILY[oid(children(signature.value)[0].value)],
    nameConstraints: false,
    proxy: false,
    unhandledCritical: false,
    invalid: false,
  };
  const extensions = f.find((x) => x.tag === 0xa3);
  const seen = new Set<string>();
  for (const ext of extensions ? children(children(extensions.value)[0].value) : []) {
    const parts = children(ext.value);
    const id = oid(parts[0].value);
    const critical = parts.length === 3 && parts[1].tag === 0x01 && parts[1].value[0] !== 0;
    if (critical && !SUPPORTED_EXTENSIONS.has(id)) cert.unhandledCritical = true;
    if (seen.has(id)) cert.invalid = true;
    seen.add(id);
    try {
      applyExtension(cert, id, parts[parts.length - 1].value);
    } catch {
      cert.invalid = true;
    }
  }
  return cert;
}
