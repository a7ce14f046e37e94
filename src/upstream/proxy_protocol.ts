/**
 * PROXY protocol v1 header towards backends (protocols.md §7). Source = the
 * client (after realip), destination = where the proxy accepted the client.
 */
import net from "node:net";

export interface ConnectionAddresses {
  clientAddr?: string;
  clientPort?: number;
  localAddr?: string;
  localPort?: number;
}

/** `PROXY TCP4 src dst sport dport\r\n`, or `PROXY UNKNOWN\r\n` for UNIX-socket clients. */
export function proxyHeaderV1(a: ConnectionAddresses): string {
  const src = a.clientAddr ? unmapped(a.clientAddr) : "";
  const dst = a.localAddr ? unmapped(a.localAddr) : "";
  if (!net.isIP(src) || !net.isIP(dst) || a.clientPort === undefined || a.localPort === undefined) {
    return "PROXY UNKNOWN\r\n";
  }
  const family = net.isIPv6(src) || net.isIPv6(dst) ? "TCP6" : "TCP4";
  const s = family === "TCP6" ? asV6(src) : src;
  const d = family === "TCP6" ? asV6(dst) : dst;
  return `PROXY ${family} ${s} ${d} ${a.clientPort} ${a.localPort}\r\n`;
}

/** `::ffff:1.2.3.4` as sockets on a dual-stack listener report it becomes `1.2.3.4`. */
export function unmapped(addr: string): string {
  return addr.startsWith("::ffff:") && net.isIPv4(addr.slice(7)) ? addr.slice(7) : addr;
}

function asV6(addr: string): string {
  return net.isIPv4(addr) ? `::ffff:${addr}` : addr;
}
