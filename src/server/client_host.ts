/**
 * SMTP client host name (protocols.md §5.1): PTR, character check, forward
 * confirmation; `[UNAVAILABLE]` / `[TEMPUNAVAIL]` otherwise.
 */
import net from "node:net";
import type { EffectiveServer } from "../config/model.ts";
import { DNS_A, DNS_AAAA, DNS_PTR, type DnsOutcome, expandIpv6, nameServers, queryDns, reverseName } from "./dns_client.ts";

/** A lookup's failure as Client-Host: NXDOMAIN (or no record) is `[UNAVAILABLE]`, anything else `[TEMPUNAVAIL]`. */
function failureHost(outcome: DnsOutcome): string {
  return outcome.type === "not-found" ? "[UNAVAILABLE]" : "[TEMPUNAVAIL]";
}

export function createClientHostResolver(server: EffectiveServer): ((ip: string) => Promise<string>) | undefined {
  const spec = server.resolver;
  if (!spec) return undefined;
  // Our own stub client: node:dns differs by runtime (see dns_client.ts).
  const servers = nameServers(spec.addresses);
  const timeout = server.resolver_timeout;
  return async (ip: string) => {
    if (!net.isIP(ip)) return "[TEMPUNAVAIL]";
    const ptr = await queryDns(servers, reverseName(ip), DNS_PTR, timeout);
    if (ptr.type !== "ok") return failureHost(ptr);
    const name = ptr.records[0];
    if (!/^[A-Za-z0-9.-]+$/.test(name)) return "[TEMPUNAVAIL]";
    const v6 = net.isIPv6(ip);
    if (v6 ? !spec.ipv6 : !spec.ipv4) return "[UNAVAILABLE]";
    const forward = await queryDns(servers, name, v6 ? DNS_AAAA : DNS_A, timeout);
    if (forward.type !== "ok") return failureHost(forward);
    const wanted = v6 ? expandIpv6(ip) : ip;
    return forward.records.includes(wanted) ? name : "[UNAVAILABLE]";
  };
}
