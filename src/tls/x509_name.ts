/**
 * X.509 distinguished names read from DER: the RFC 2253 text nginx sends in
 * Auth-SSL-Subject/-Issuer (OpenSSL's X509_NAME_print_ex with XN_FLAG_RFC2253), the
 * comparison OpenSSL uses to link a certificate to its issuer, and the common name.
 * From the DER, never from a runtime's string: Bun and Deno format names differently.
 */
import { children, hex, oid, type Tlv } from "./der.ts";

interface NameAttribute {
  oid: string;
  /** The value's whole DER element (tag, length, content). */
  value: Tlv;
}

/** RDNs in DER order (least specific first); each holds one or more attributes. */
export type Name = NameAttribute[][];

/** Parse a Name (SEQUENCE OF SET OF AttributeTypeAndValue); throws on malformed DER. */
export function parseName(seq: Tlv): Name {
  if (seq.tag !== 0x30) throw new Error("bad Name");
  return children(seq.value).map((set) => {
    if (set.tag !== 0x31) throw new Error("bad RDN");
    return children(set.value).map((atv) => {
      const [type, value] = children(atv.value);
      if (!type || type.tag !== 0x06 || !value) throw new Error("bad attribute");
      return { oid: oid(type.value), value };
    });
  });
}

/** OpenSSL's short names (OBJ_nid2sn) of attribute types; others print as dotted OIDs. */
const SHORT_NAMES: Record<string, string> = {
  "2.5.4.3": "CN", "2.5.4.4": "SN", "2.5.4.5": "serialNumber", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST",
  "2.5.4.9": "street", "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.12": "title", "2.5.4.13": "description",
  "2.5.4.14": "searchGuide", "2.5.4.15": "businessCategory", "2.5.4.16": "postalAddress", "2.5.4.17": "postalCode",
  "2.5.4.18": "postOfficeBox", "2.5.4.19": "physicalDeliveryOfficeName", "2.5.4.20": "telephoneNumber",
  "2.5.4.21": "telexNumber", "2.5.4.22": "teletexTerminalIdentifier", "2.5.4.23": "facsimileTelephoneNumber",
  "2.5.4.24": "x121Address", "2.5.4.25": "internationaliSDNNumber", "2.5.4.26": "registeredAddress",
  "2.5.4.27": "destinationIndicator", "2.5.4.28": "preferredDeliveryMethod", "2.5.4.29": "presentationAddress",
  "2.5.4.30": "supportedApplicationContext", "2.5.4.31": "member", "2.5.4.32": "owner", "2.5.4.33": "roleOccupant",
  "2.5.4.34": "seeAlso", "2.5.4.35": "userPassword", "2.5.4.36": "userCertificate", "2.5.4.37": "cACertificate",
  "2.5.4.38": "authorityRevocationList", "2.5.4.39": "certificateRevocationList", "2.5.4.40": "crossCertificatePair",
  "2.5.4.41": "name", "2.5.4.42": "GN", "2.5.4.43": "initials", "2.5.4.44": "generationQualifier",
  "2.5.4.45": "x500UniqueIdentifier", "2.5.4.46": "dnQualifier", "2.5.4.47": "enhancedSearchGuide",
  "2.5.4.48": "protocolInformation", "2.5.4.49": "distinguishedName", "2.5.4.50": "uniqueMember",
  "2.5.4.51": "houseIdentifier", "2.5.4.52": "supportedAlgorithms", "2.5.4.53": "deltaRevocationList",
  "2.5.4.54": "dmdName", "2.5.4.65": "pseudonym", "2.5.4.72": "role", "2.5.4.97": "organizationIdentifier",
  "2.5.4.100": "dnsName",
  "1.2.840.113549.1.9.1": "emailAddress", "1.2.840.113549.1.9.2": "unstructuredName",
  "1.2.840.113549.1.9.3": "contentType", "1.2.840.113549.1.9.4": "messageDigest", "1.2.840.113549.1.9.5": "signingTime",
  "1.2.840.113549.1.9.6": "countersignature", "1.2.840.113549.1.9.7": "challengePassword",
  "1.2.840.113549.1.9.8": "unstructuredAddress", "1.2.840.113549.1.9.9": "extendedCertificateAttributes",
  "1.2.840.113549.1.9.14": "extReq", "1.2.840.113549.1.9.15": "SMIME-CAPS", "1.2.840.113549.1.9.16": "SMIME",
  "1.2.840.113549.1.9.20": "friendlyName", "1.2.840.113549.1.9.21": "localKeyID",
  "0.9.2342.19200300.100.1.1": "UID", "0.9.2342.19200300.100.1.3": "mail", "0.9.2342.19200300.100.1.25": "DC",
  "0.9.2342.19200300.100.1.44": "uid",
  "1.3.6.1.4.1.311.60.2.1.1": "jurisdictionL", "1.3.6.1.4.1.311.60.2.1.2": "jurisdictionST",
  "1.3.6.1.4.1.311.60.2.1.3": "jurisdictionC",
};

/** Bytes per character of the string types OpenSSL prints as text (its tag2nbyte); 0 = UTF8String. */
const CHAR_WIDTH: Record<number, number> = { 12: 0, 18: 1, 19: 1, 20: 1, 22: 1, 23: 1, 24: 1, 26: 1, 28: 4, 30: 2 };

/** Characters RFC 2253 escapes with a backslash anywhere in a value. */
const BACKSLASHED = new Set([..."\"+,;<>\\"].map((c) => c.charCodeAt(0)));

/** One output byte as do_esc_char writes it; first/last say where it sits in the value. */
function escapeByte(b: number, first: boolean, last: boolean): string {
  if (BACKSLASHED.has(b) || (b === 0x23 && first) || (b === 0x20 && (first || last))) return `\\${String.fromCharCode(b)}`;
  if (b < 0x20 || b >= 0x7f) return `\\${b.toString(16).toUpperCase().padStart(2, "0")}`;
  return String.fromCharCode(b);
}

/** The characters of a string value as code points, or undefined when its length does not fit the width. */
function codePoints(content: Uint8Array, width: number): number[] | undefined {
  if (width <= 1) return Array.from(content);
  if (content.length % width) return undefined;
  const out: number[] = [];
  for (let i = 0; i < content.length; i += width) {
    out.push(width === 2 ? (content[i] << 8) | content[i + 1] : ((content[i] << 24) | (content[i + 1] << 16) | (content[i + 2] << 8) | content[i + 3]) >>> 0);
  }
  return out;
}

/** UTF-8 bytes of one code point (UTF8_putc, which also encodes surrogates and values above U+10FFFF). */
function utf8(c: number): number[] {
  if (c < 0x80) return [c];
  if (c < 0x800) return [0xc0 | (c >> 6), 0x80 | (c & 0x3f)];
  if (c < 0x10000) return [0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
  if (c < 0x200000) return [0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
  if (c < 0x4000000) {
    return [0xf8 | (c >> 24), 0x80 | ((c >> 18) & 0x3f), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
  }
  return [0xfc | (c >>> 30), 0x80 | ((c >> 24) & 0x3f), 0x80 | ((c >> 18) & 0x3f), 0x80 | ((c >> 12) & 0x3f),
    0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f)];
}

/** A value as OpenSSL's do_print_ex prints it with ASN1_STRFLGS_RFC2253. */
function valueText(a: NameAttribute): string {
  const width = a.oid in SHORT_NAMES ? CHAR_WIDTH[a.value.tag] : undefined;
  const chars = width === undefined ? undefined : codePoints(a.value.value, width);
  if (chars === undefined) return `#${hex(a.value.raw)}`;
  let out = "";
  chars.forEach((c, i) => {
    const first = i === 0;
    const last = i === chars.length - 1;
    // OpenSSL flags the last character as last only (not also first): a lone "#" stays bare.
    const bytes = width === 0 ? [c] : utf8(c);
    for (const b of bytes) out += escapeByte(b, first && !last, last);
  });
  return out;
}

/**
 * The name in RFC 2253 form, most specific RDN first, attributes of one RDN joined by "+".
 * Control bytes and non-ASCII bytes are escaped as `\XX`, so the text never holds CR or LF.
 * @example rfc2253(parseName(tlv)) // "CN=alice\\, jr,O=Example"
 */
export function rfc2253(name: Name): string {
  return name.slice().reverse().map((rdn) =>
    rdn.slice().reverse().map((a) => `${SHORT_NAMES[a.oid] ?? a.oid}=${valueText(a)}`).join("+")
  ).join(",");
}

/** A string value decoded to text (for the CN in PROXY v2), or undefined for non-string types. */
function decodeText(v: Tlv): string | undefined {
  switch (v.tag) {
    case 12:
      return new TextDecoder().decode(v.value);
    case 18: case 19: case 20: case 22: case 26:
      return String.fromCharCode(...v.value);
    case 30: case 28: {
      const chars = codePoints(v.value, v.tag === 30 ? 2 : 4);
      return chars && chars.every((c) => c <= 0x10ffff) ? String.fromCodePoint(...chars) : undefined;
    }
  }
  return undefined;
}

/** The most specific commonName as text. */
export function commonName(name: Name): string | undefined {
  const cns = name.flat().filter((a) => a.oid === "2.5.4.3");
  const cn = cns[cns.length - 1];
  return cn && decodeText(cn.value);
}

/** String types X509_NAME_cmp compares case- and space-insensitively (ASN1_MASK_CANON). */
const CANON_TAGS = new Set([12, 19, 20, 22, 26, 28, 30]);

/**
 * The form OpenSSL compares names in (X509_NAME_cmp on canonical encodings): string
 * values in UTF-8, ASCII lowercased, whitespace trimmed and collapsed; others as DER.
 */
function canonical(name: Name): string {
  return JSON.stringify(name.map((rdn) =>
    rdn.map((a) => {
      const text = CANON_TAGS.has(a.value.tag) ? decodeText(a.value) : undefined;
      const value = text === undefined
        ? `der:${hex(a.value.raw)}`
        : "text:" + text.replace(/[A-Z]/g, (c) => c.toLowerCase()).replace(/^[ \t\n\v\f\r]+|[ \t\n\v\f\r]+$/g, "")
          .replace(/[ \t\n\v\f\r]+/g, " ");
      return `${a.oid}=${value}`;
    }).sort()
  ));
}

/** Whether two names are the same name as OpenSSL sees it. */
export function sameName(a: Name, b: Name): boolean {
  return canonical(a) === canonical(b);
}
