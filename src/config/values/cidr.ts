/** IPv4/IPv6 addresses and CIDRs as set_real_ip_from, status_allow and the like write them. */
import net from "node:net";

export interface Network {
  family: 4 | 6;
  bytes: Uint8Array;
  prefix: number;
}

/** `a.b.c.d[/n]` or `v6[/n]` → network; undefined if it is not an address. Host bits are ignored, as nginx does. */
export function parseCidr(text: string): Network | undefined {
  const slash = text.indexOf("/");
  let addr = slash < 0 ? text : text.slice(0, slash);
  if (addr.startsWith("::ffff:") && net.isIPv4(addr.slice(7))) addr = addr.slice(7);
  const family = net.isIPv4(addr) ? 4 : net.isIPv6(addr) ? 6 : 0;
  if (family === 0) return undefined;
  const max = family === 4 ? 32 : 128;
  const prefixText = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) return undefined;
  return { family, bytes: family === 4 ? v4Bytes(addr) : v6Bytes(addr), prefix: Number(prefixText) };
}

/** True when a CIDR has bits set beyond its prefix (nginx warns `low address bits of <v> are meaningless`). */
export function hasHostBits(text: string): boolean {
  const n = parseCidr(text);
  if (!n) return false;
  for (let bit = n.prefix; bit < n.bytes.length * 8; bit++) {
    if (n.bytes[bit >> 3]! & (0x80 >> (bit & 7))) return true;
  }
  return false;
}

/** Whether `addr` (a parsed address) is inside `network`. */
export function contains(network: Network, addr: Network): boolean {
  return network.family === addr.family && samePrefix(network.bytes, addr.bytes, network.prefix);
}

function samePrefix(a: Uint8Array, b: Uint8Array, prefix: number): boolean {
  const whole = prefix >> 3;
  for (let i = 0; i < whole; i++) if (a[i] !== b[i]) return false;
  const rest = prefix & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (a[whole]! & mask) === (b[whole]! & mask);
}

function v4Bytes(addr: string): Uint8Array {
  return Uint8Array.from(addr.split(".").map(Number));
}

function v6Bytes(addr: string): Uint8Array {
  let text = addr;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (net.isIPv4(text.slice(lastColon + 1))) {
    tail.push(...v4Bytes(text.slice(lastColon + 1)));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes("::") ? text.split("::") as [string, string] : [text, undefined];
  const groups = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const h = groups(head);
  const r = rest === undefined ? [] : groups(rest);
  const all = rest === undefined ? h : [...h, ...new Array(8 - h.length - r.length).fill(0), ...r];
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  if (tail.length) bytes.set(tail, 12);
  return bytes;
}
