/**
 * Just enough DER to read a CRL (node:crypto parses certificates but not CRLs):
 * tag-length-value walking, no schema.
 */

export interface Tlv {
  tag: number;
  /** The whole element, header included. */
  raw: Uint8Array;
  /** The content octets. */
  value: Uint8Array;
}

/** Read one element at `offset`; throws on truncated input. */
export function readTlv(data: Uint8Array, offset = 0): Tlv & { end: number } {
  const tag = data[offset];
  let pos = offset + 1;
  let length = data[pos++];
  if (length === undefined || tag === undefined) throw new Error("truncated DER");
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4) throw new Error("unsupported DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + data[pos++];
  }
  const end = pos + length;
  if (end > data.length) throw new Error("truncated DER");
  return { tag, raw: data.subarray(offset, end), value: data.subarray(pos, end), end };
}

/** The elements inside a constructed value. */
export function children(value: Uint8Array): Tlv[] {
  const out: Tlv[] = [];
  let offset = 0;
  while (offset < value.length) {
    const t = readTlv(value, offset);
    out.push(t);
    offset = t.end;
  }
  return out;
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("").toUpperCase();
}

/** OBJECT IDENTIFIER content octets as dotted text. */
export function oid(value: Uint8Array): string {
  const parts = [Math.floor(value[0] / 40), value[0] % 40];
  let n = 0;
  for (let i = 1; i < value.length; i++) {
    n = n * 128 + (value[i] & 0x7f);
    if (!(value[i] & 0x80)) {
      parts.push(n);
      n = 0;
    }
  }
  return parts.join(".");
}

/** UTCTime / GeneralizedTime content as a Date. */
export function derTime(tag: number, value: Uint8Array): Date {
  const s = new TextDecoder().decode(value);
  const full = tag === 0x17 ? (Number(s.slice(0, 2)) >= 50 ? "19" : "20") + s : s;
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})/.exec(full);
  if (!m) throw new Error(`bad DER time "${s}"`);
  return new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
}
