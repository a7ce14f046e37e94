/**
 * PROXY protocol v1 and v2 headers towards backends (protocols.md §7). Source = the
 * client (after realip), destination = where the proxy accepted the client. Addresses
 * are checked IP literals (no zone ID), anything else is `UNKNOWN`/LOCAL; v2 strings
 * are length-prefixed TLVs, so no byte in them can end the header.
 */
import net from "node:net";
import { wireText, type Wire } from "./wire.ts";

/** An address the header can carry: an IP literal without a zone ID. */
function isWireIp(addr: string): boolean {
  return net.isIP(addr) !== 0 && !addr.includes("%");
}

export interface ConnectionAddresses {
  clientAddr?: string;
  clientPort?: number;
  localAddr?: string;
  localPort?: number;
}

/** `PROXY TCP4 src dst sport dport\r\n`, or `PROXY UNKNOWN\r\n` for UNIX-socket clients. */
export function proxyHeaderV1(a: ConnectionAddresses): Wire<"proxy"> {
  const src = a.clientAddr ? unmapped(a.clientAddr) : "";
  const dst = a.localAddr ? unmapped(a.localAddr) : "";
  if (!isWireIp(src) || !isWireIp(dst) || a.clientPort === undefined || a.localPort === undefined) {
    return wireText("PROXY UNKNOWN\r\n", "proxy");
  }
  const family = net.isIPv6(src) || net.isIPv6(dst) ? "TCP6" : "TCP4";
  const s = family === "TCP6" ? asV6(src) : src;
  const d = family === "TCP6" ? asV6(dst) : dst;
  return wireText(`PROXY ${family} ${s} ${d} ${a.clientPort} ${a.localPort}\r\n`, "proxy");
}

/** `::ffff:1.2.3.4` as sockets on a dual-stack listener report it becomes `1.2.3.4`. */
export function unmapped(addr: string): string {
  return addr.startsWith("::ffff:") && net.isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

function asV6(addr: string): string {
  return net.isIPv4(addr) ? `::ffff:${addr}` : addr;
}

/** TLS facts of the client connection carried in v2 TLVs (protocols.md §7). */
export interface ClientTlsFacts {
  /** e.g. "TLSv1.3". */
  version: string;
  cipher: string;
  /** SNI name the client sent. */
  serverName?: string;
  /** Negotiated ALPN id. */
  alpn?: string;
  /** A client certificate was presented on this connection. */
  clientCert?: boolean;
  /** 0 = client certificate verified; 1 = none; another verification error code otherwise. */
  verify?: number;
  /** Client certificate common name. */
  clientCn?: string;
}

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

function tlv(type: number, value: Buffer): Buffer {
  const head = Buffer.alloc(3);
  head[0] = type;
  head.writeUInt16BE(value.length, 1);
  return Buffer.concat([head, value]);
}

function addressBytes(addr: string, asV6: boolean): Buffer {
  if (!asV6) return Buffer.from(addr.split(".").map(Number));
  const v6 = net.isIPv4(addr) ? `::ffff:${addr}` : addr;
  const out = Buffer.alloc(16);
  let text = v6;
  const lastColon = text.lastIndexOf(":");
  const dotted = text.slice(lastColon + 1);
  if (net.isIPv4(dotted)) {
    Buffer.from(dotted.split(".").map(Number)).copy(out, 12);
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (s: string | undefined) => (!s ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const t = groups(tail);
  const all = tail === undefined ? h : [...h, ...new Array(8 - h.length - t.length).fill(0), ...t];
  all.forEach((g, i) => {
    if (i < 6 || !net.isIPv4(dotted)) out.writeUInt16BE(g, i * 2);
  });
  return out;
}

/**
 * PROXY protocol v2 header (binary, as a latin1 string like all protocol data):
 * signature, PROXY/LOCAL, addresses, TLS TLVs when the client is on TLS, CRC32C last.
 */
export function proxyHeaderV2(a: ConnectionAddresses, tls?: ClientTlsFacts): Wire<"proxy"> {
  const src = a.clientAddr ? unmapped(a.clientAddr) : "";
  const dst = a.localAddr ? unmapped(a.localAddr) : "";
  const tcp = isWireIp(src) && isWireIp(dst) && a.clientPort !== undefined && a.localPort !== undefined;
  let command = 0x20; // LOCAL
  let family = 0x00;
  let addresses = Buffer.alloc(0);
  if (tcp) {
    command = 0x21;
    const v6 = net.isIPv6(src) || net.isIPv6(dst);
    family = v6 ? 0x21 : 0x11;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(a.clientPort!, 0);
    ports.writeUInt16BE(a.localPort!, 2);
    addresses = Buffer.concat([addressBytes(src, v6), addressBytes(dst, v6), ports]);
  }
  const tlvs: Buffer[] = [];
  if (tls) {
    if (tls.serverName) tlvs.push(tlv(0x02, Buffer.from(tls.serverName, "latin1")));
    if (tls.alpn) tlvs.push(tlv(0x01, Buffer.from(tls.alpn, "latin1")));
    const ssl = Buffer.alloc(5);
    ssl[0] = 0x01 | (tls.clientCert ? 0x04 | 0x02 : 0);
    ssl.writeUInt32BE(tls.verify ?? (tls.clientCert ? 0 : 1), 1);
    const subs = [tlv(0x21, Buffer.from(tls.version, "latin1"))];
    if (tls.clientCn) subs.push(tlv(0x22, Buffer.from(tls.clientCn, "utf8")));
    subs.push(tlv(0x23, Buffer.from(tls.cipher, "latin1")));
    tlvs.push(tlv(0x20, Buffer.concat([ssl, ...subs])));
  }
  const crcTlv = tlv(0x03, Buffer.alloc(4));
  const body = Buffer.concat([addresses, ...tlvs, crcTlv]);
  const head = Buffer.alloc(4);
  head[0] = command;
  head[1] = family;
  head.writeUInt16BE(body.length, 2);
  const header = Buffer.concat([V2_SIGNATURE, head, body]);
  header.writeUInt32BE(crc32c(header), header.length - 4);
  return wireText(header.toString("latin1"), "proxy");
}

let CRC32C_TABLE: Uint32Array | undefined;

/** CRC-32C (Castagnoli), as the PROXY v2 checksum TLV requires. */
export function crc32c(data: Uint8Array): number {
  if (!CRC32C_TABLE) {
    CRC32C_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
      CRC32C_TABLE[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (const byte of data) crc = CRC32C_TABLE[(crc ^ byte) & 0xff]! ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}
