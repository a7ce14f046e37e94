/**
 * Host names of the configuration and of auth answers, resolved by the system's resolver
 * (getaddrinfo), as nginx resolves them. The special-use name "invalid" and the names under
 * it never resolve (RFC 6761 §6.4): they are refused here without a query leaving the host.
 */
import dns from "node:dns/promises";

export interface ResolvedAddress {
  address: string;
  family: number;
}

function isInvalidName(host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, "");
  return name === "invalid" || name.endsWith(".invalid");
}

function notFound(host: string): Error {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: "ENOTFOUND", hostname: host });
}

/** Every address of `host`; rejects as dns.lookup does when there is none. */
export function lookupAll(host: string): Promise<ResolvedAddress[]> {
  if (isInvalidName(host)) return Promise.reject(notFound(host));
  return dns.lookup(host, { all: true });
}

/** The first address of `host`, as dns.lookup gives it. */
export function lookupFirst(host: string): Promise<ResolvedAddress> {
  if (isInvalidName(host)) return Promise.reject(notFound(host));
  return dns.lookup(host);
}
