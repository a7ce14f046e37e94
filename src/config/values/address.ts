/**
 * `host[:port]` splitting shared by `listen`, `auth_http`, `resolver` and `proxy_pass`.
 * No DNS here: host names are kept as written and resolved by the runtime.
 * Errors are nginx's `u->err` strings ("invalid port", "no host", ...).
 */

import { isIPv4, isIPv6 } from "node:net";

interface HostPort {
  /** As written, IPv6 with its brackets; "" when absent. */
  host: string;
  /** The port text, "" when absent. */
  port: string;
}

/** Splits `host:port`, `[v6]:port`, `port` (when `bareIsPort`) or `host`. */
export function splitHostPort(text: string, bareIsPort: boolean): HostPort | string {
  if (text.startsWith("[")) {
    const end = text.indexOf("]");
    if (end < 0) return "invalid host";
    const host = text.slice(0, end + 1);
    const rest = text.slice(end + 1);
    if (rest === "") return { host, port: "" };
    if (!rest.startsWith(":")) return "invalid host";
    return { host, port: rest.slice(1) };
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) {
    if (bareIsPort && /^[0-9]+(-[0-9]+)?$/.test(text)) return { host: "", port: text };
    return { host: text, port: "" };
  }
  return { host: text.slice(0, colon), port: text.slice(colon + 1) };
}

/** A TCP port 1..65535, or null. */
export function parsePort(text: string): number | null {
  if (!/^[0-9]{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : null;
}

/** Checks a host as written: an IPv4 or bracketed IPv6 literal, or a DNS name. */
export function checkHost(host: string): string | null {
  if (host === "") return "no host";
  if (host.startsWith("[")) return isIPv6(host.slice(1, -1)) ? null : "invalid host";
  if (/^[0-9.]+$/.test(host)) return isIPv4(host) ? null : "invalid host";
  if (!/^[A-Za-z0-9_]([A-Za-z0-9._-]*[A-Za-z0-9_.])?$/.test(host)) return "invalid host";
  return null;
}

/** Canonical spelling of an IP literal for comparisons (`[::0]` → `[::]`). */
export function canonicalHost(host: string): string {
  if (host.startsWith("[")) {
    try {
      return new URL(`http://${host}/`).hostname;
    } catch {
      return host.toLowerCase();
    }
  }
  return host.toLowerCase();
}
