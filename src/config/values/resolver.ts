/** `resolver address ... [valid=time] [ipv4=on|off] [ipv6=on|off] [status_zone=zone]` | `resolver off`. */

import type { ResolverSpec } from "../model.ts";
import { ValueError } from "../errors.ts";
import { parseTime } from "../units.ts";
import { checkHost, parsePort, splitHostPort } from "./address.ts";
import type { ValueContext } from "./listen.ts";

/** Parses resolver arguments; `null` means `resolver off`. */
export function parseResolver(args: string[], ctx: ValueContext): ResolverSpec | null {
  if (args[0] === "off") return null;
  const spec: ResolverSpec = { addresses: [], ipv4: true, ipv6: true };
  const invalid = (arg: string) => new ValueError("resolver", `invalid parameter: ${arg}`);
  for (const arg of args) {
    if (arg.startsWith("valid=")) {
      const valid = parseTime(arg.slice(6), "s");
      if (valid === null) throw invalid(arg);
      spec.valid = valid;
    } else if (arg.startsWith("ipv4=") || arg.startsWith("ipv6=")) {
      const flag = arg.slice(5);
      if (flag !== "on" && flag !== "off") throw invalid(arg);
      if (arg.startsWith("ipv4=")) spec.ipv4 = flag === "on";
      else spec.ipv6 = flag === "on";
    } else if (arg.startsWith("status_zone=")) {
      // NGINX Plus only; accepted so that Plus configurations load (directives.md §4.1).
      ctx.warn(`"${arg}" of the "resolver" directive is not supported, ignored`);
    } else {
      const split = splitHostPort(arg, false);
      const bad = typeof split === "string" ? split : checkHost(split.host) ??
        (split.port !== "" && parsePort(split.port) === null ? "invalid port" : null);
      if (bad) throw new ValueError("resolver", `${bad} in resolver "${arg}"`);
      spec.addresses.push(arg);
    }
  }
  if (!spec.ipv4 && !spec.ipv6) throw new ValueError("resolver", '"ipv4" and "ipv6" cannot both be "off"');
  if (spec.addresses.length === 0) throw new ValueError("resolver", "no name servers defined");
  return spec;
}

/** Writes a resolver back as nginx arguments. */
export function formatResolver(spec: ResolverSpec | null): string[] {
  if (spec === null) return ["off"];
  const args = [...spec.addresses];
  if (spec.valid !== undefined) args.push(`valid=${spec.valid}s`);
  if (!spec.ipv4) args.push("ipv4=off");
  if (!spec.ipv6) args.push("ipv6=off");
  return args;
}
