/**
 * SMTP client host name (protocols.md §5.1): PTR, character check, forward
 * confirmation; `[UNAVAILABLE]` / `[TEMPUNAVAIL]` otherwise.
 */
import net from "node:net";
import type { EffectiveServer } from "../config/model.ts";
import { DNS_A, DNS_AAAA, DNS_PTR, type DnsOutcome, expandIpv6, queryDns, resolveNameServers, reverseName } from "./dns_client.ts";
import { DnsCache } from "./dns_cache.ts";

/** A lookup's failure as Client-Host: NXDOMAIN (or no record) is `[UNAVAILABLE]`, anything else `[TEMPUNAVAIL]`. */
function failureHost(outcome: DnsOutcome): string {
  return outcome.type === "not-found" ? "[UNAVAILABLE]" : "[TEMPUNAVAIL]";
}

/**
 * The server's lookup, or undefined without a `resolver`. Resolver host names are
 * resolved here, when the config is applied; rejects with `host not found in resolver "<v>"`.
 */
export async function createClientHostResolver(server: EffectiveServer): Promise<((ip: string) => Promise<string>) | undefined> {
  const spec = server.resolver;
  if (!spec) return undefined;
  // Our own stub client: node:dns differs by runtime (see dns_client.ts).
  const servers = await resolveNameServers(spec.addresses);
  const timeout = server.resolver_timeout;
  const cache = new DnsCache(spec.valid);
  const ask = (name: string, qtype: number) => cache.lookup(name, qtype, () => queryDns(servers, name, qtype, timeout));
  return async (ip: string) => {
    if (!net.isIP(ip)) return "[TEMPUNAVAIL]";
    const ptr = await ask(reverseName(ip), DNS_PTR);
    if (ptr.type !== "ok") return failureHost(ptr);
    const name = ptr.records[0];
    if (!/^[A-Za-z0-9.-]+$/.test(name)) return "[TEMPUNAVAIL]";
    const v6 = net.isIPv6(ip);
    if (v6 ? !spec.ipv6 : !spec.ipv4) return "[UNAVAILABLE]";
    const forward = await ask(name, v6 ? DNS_AAAA : DNS_A);
    if (forward.type !== "ok") return failureHost(forward);
    const wanted = v6 ? expandIpv6(ip) : ip;
    return forward.records.includes(wanted) ? name : "[UNAVAILABLE]";
  };
}
