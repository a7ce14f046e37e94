/**
 * The ManageSieve capability response (RFC 5804 §1.7) the proxy gives before login: its
 * SASL mechanisms come from the mechanism table the AUTHENTICATE dispatcher checks too
 * (../mechanisms.ts). After login the client reads the backend's own.
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import { advertisedMechanisms } from "../mechanisms.ts";

interface SieveCapabilityOptions {
  /** The `"SIEVE"` extensions. */
  sieve_capabilities: readonly string[];
  sieve_auth: readonly AuthMethodName[];
  starttls: StartTls;
  /** TLS is active on the client connection (implicit or after STARTTLS). */
  tls: boolean;
}

/**
 * A string the client reads: quoted, `"` and `\` escaped.
 * @example sieveQuote('a"b') // '"a\\"b"'
 */
export function sieveQuote(text: string): string {
  return `"${text.replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/**
 * The capability lines, CRLF included, without the closing `OK`. SASL is empty while
 * `starttls only` waits for TLS, as Dovecot does with plaintext authentication disabled.
 * @example sieveCapabilityLines({ sieve_capabilities: ["fileinto"], sieve_auth: ["plain"], starttls: "on", tls: false })
 *   // '"IMPLEMENTATION" "mailproxy"\r\n"SIEVE" "fileinto"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\n'
 */
export function sieveCapabilityLines(opts: SieveCapabilityOptions): string {
  const authAllowed = opts.tls || opts.starttls !== "only";
  const mechanisms = authAllowed ? advertisedMechanisms("sieve", opts.sieve_auth) : [];
  const lines = [
    ["IMPLEMENTATION", "mailproxy"],
    ["SIEVE", opts.sieve_capabilities.join(" ")],
    // RFC 5804 §1.7: NOTIFY lists the methods of the enotify extension.
    ...(opts.sieve_capabilities.includes("enotify") ? [["NOTIFY", "mailto"]] : []),
    ["SASL", mechanisms.join(" ")],
    ...(!opts.tls && opts.starttls !== "off" ? [["STARTTLS"]] : []),
    ["VERSION", "1.0"],
  ];
  return lines.map((words) => words.map(sieveQuote).join(" ") + "\r\n").join("");
}
