/**
 * Certificate revocation lists for ssl_crl, parsed and checked in TypeScript because
 * neither Bun nor Deno applies node:tls's `crl` option to client certificates.
 */
import crypto from "node:crypto";
import { children, derTime, hex, oid, readTlv } from "./der.ts";

export interface Crl {
  /** The signed part, for signature checks against a candidate issuer. */
  tbs: Uint8Array;
  hash: string | null;
  signature: Uint8Array;
  nextUpdate?: Date;
  /** Revoked serial numbers, uppercase hex without leading zeros. */
  revoked: Set<string>;
}

const HASH_BY_OID: Record<string, string | null> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.3.101.112": null,
};

/** Serial numbers as compared everywhere: uppercase hex, no leading zeros. */
export function normalSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+(?=.)/, "");
}

/** Every X509 CRL in a PEM text; throws with a readable message on a malformed one. */
export function parseCrls(pem: string): Crl[] {
  const blocks = pem.match(/-----BEGIN X509 CRL-----[^-]+-----END X509 CRL-----/g) ?? [];
  return blocks.map((block) => {
    const der = Buffer.from(block.replace(/-----[^-]+-----|\s/g, ""), "base64");
    const [tbs, alg, sig] = children(readTlv(der).value);
    const algOid = oid(children(alg.value)[0].value);
    if (!(algOid in HASH_BY_OID)) throw new Error(`unsupported CRL signature algorithm ${algOid}`);
    const fields = children(tbs.value);
    let i = fields[0].tag === 0x02 ? 1 : 0;
    i += 3; // signature, issuer, thisUpdate
    let nextUpdate: Date | undefined;
    if (fields[i] && (fields[i].tag === 0x17 || fields[i].tag === 0x18)) nextUpdate = derTime(fields[i].tag, fields[i++].value);
    const revoked = new Set<string>();
    if (fields[i] && fields[i].tag === 0x30) {
      for (const entry of children(fields[i].value)) revoked.add(normalSerial(hex(children(entry.value)[0].value)));
    }
    return { tbs: tbs.raw, hash: HASH_BY_OID[algOid], signature: sig.value.subarray(1), nextUpdate, revoked };
  });
}

/** Whether `issuer` signed this CRL. */
export function crlSignedBy(crl: Crl, issuer: crypto.X509Certificate): boolean {
  try {
    return crypto.verify(crl.hash, crl.tbs, issuer.publicKey, crl.signature);
  } catch {
    return false;
  }
}
