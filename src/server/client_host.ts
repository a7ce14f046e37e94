/**
 * SMTP client host name (protocols.md §5.1): PTR, character check, forward
 * confirmation; `[UNAVAILABLE]` / `[TEMPUNAVAIL]` otherwise.
 */
import dns from "node:dns";
import net from "node:net";
import type { EffectiveServer } from "../config/model.ts";

const NOT_FOUND = new Set(["ENOTFOUND", "ENODATA", "NXDOMAIN"]);

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(Object.assign(new Error("timed out"), { code: "ETIMEOUT" })), ms);
    }),
  ]);
}

export function createClientHostResolver(server: EffectiveServer): ((ip: string) => Promise<string>) | undefined {
  const spec = server.resolver;
  if (!spec) return undefined;
  const resolver = new dns.promises.Resolver();
  resolver.setServers(spec.addresses);
  const timeout = server.resolver_timeout;
  return async (ip: string) => {
    if (!net.isIP(ip)) return "[TEMPUNAVAIL]";
    let name: string;
    try {
      const names = await withTimeout(resolver.reverse(ip), timeout);
      if (names.length === 0) return "[UNAVAILABLE]";
      name = names[0];
    } catch (err) {
      return NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? "") ? "[UNAVAILABLE]" : "[TEMPUNAVAIL]";
    }
    if (!/^[A-Za-z0-9.-]+$/.test(name)) return "[TEMPUNAVAIL]";
    try {
      const lookups: Promise<string[]>[] = [];
      if (spec.ipv4 && net.isIPv4(ip)) lookups.push(withTimeout(resolver.resolve4(name), timeout));
      if (spec.ipv6 && net.isIPv6(ip)) lookups.push(withTimeout(resolver.resolve6(name), timeout));
      const addresses = (await Promise.all(lookups)).flat();
      return addresses.includes(ip) ? name : "[UNAVAILABLE]";
    } catch (err) {
      return NOT_FOUND.has((err as NodeJS.ErrnoException).code ?? "") ? "[UNAVAILABLE]" : "[TEMPUNAVAIL]";
    }
  };
}
