/**
 * `set_real_ip_from` (directives.md §4.4): which directly connected peers may
 * set the client address with a PROXY header. Entries are an address, a CIDR,
 * a host name (all its addresses, resolved when the config is applied) or `unix:`.
 */
import { lookupAll } from "../resolve.ts";
import { contains, type Network, parseCidr } from "../config/values/cidr.ts";

export interface TrustedPeers {
  /** `peer` is an IP literal (IPv4-mapped IPv6 counts as IPv4) or `unix:` for UNIX-socket peers. */
  trusts(peer: string): boolean;
}

/** Build the matcher; rejects with `host not found in set_real_ip_from "<v>"` for an unresolvable name. */
export async function trustedPeers(entries: readonly string[]): Promise<TrustedPeers> {
  const networks: Network[] = [];
  let unix = false;
  for (const entry of entries) {
    if (entry === "unix:") {
      unix = true;
      continue;
    }
    const cidr = parseCidr(entry);
    if (cidr) {
      networks.push(cidr);
      continue;
    }
    let found: Array<{ address: string }>;
    try {
      found = await lookupAll(entry);
    } catch {
      throw new Error(`host not found in set_real_ip_from "${entry}"`);
    }
    for (const a of found) networks.push(parseCidr(a.address)!);
  }
  const inside = within(networks);
  return { trusts: (peer: string) => (peer.startsWith("unix:") ? unix : inside(peer)) };
}

/** Whether an IP literal (IPv4-mapped IPv6 counts as IPv4) is in one of the entries (addresses or CIDRs; others are skipped). */
export function addressMatcher(entries: readonly string[]): (peer: string) => boolean {
  return within(entries.map(parseCidr).filter((n): n is Network => n !== undefined));
}

function within(networks: Network[]): (peer: string) => boolean {
  return (peer) => {
    const addr = parseCidr(peer);
    return addr !== undefined && networks.some((n) => contains(n, addr));
  };
}
