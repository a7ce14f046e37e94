/**
 * ManageSieve (RFC 5804) command text toward a backend: a command word and quoted-string
 * arguments, and a SASL client response as one quoted string. A quoted string carries
 * neither CR, LF nor NUL (RFC 5804 §4 SAFE-CHAR); `"` and `\` are escaped.
 */
import { commandLine, quotedString, type Wire } from "./wire.ts";

/**
 * @example sieveQuoted("PLAIN", "the mechanism") // '"PLAIN"'
 */
function sieveQuoted(value: string, field: string): string {
  return quotedString(value, field, "sieve");
}

/**
 * @example sieveCommand("AUTHENTICATE", "PLAIN", "AGFsaWNlAHNlY3JldA==") // 'AUTHENTICATE "PLAIN" "AGFsaWNlAHNlY3JldA=="\r\n'
 * @example sieveCommand("STARTTLS") // "STARTTLS\r\n"
 */
export function sieveCommand(verb: "AUTHENTICATE" | "STARTTLS", ...args: string[]): Wire<"sieve"> {
  const quoted = args.map((arg, i) => sieveQuoted(arg, i === 0 ? "the SASL mechanism" : "the SASL response"));
  return commandLine("sieve", [verb, ...quoted].join(" "));
}

/**
 * A client response in a SASL exchange (RFC 5804 §2.1): one quoted string on its line.
 * @example sieveSaslResponse("AQ==") // '"AQ=="\r\n'
 */
export function sieveSaslResponse(base64: string): Wire<"sieve"> {
  return commandLine("sieve", sieveQuoted(base64, "the SASL response"));
}
