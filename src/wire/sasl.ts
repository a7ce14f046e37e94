/** SASL client responses toward a backend: base64 on the line, so only the message's own framing can break. */
import { UnsafeValueError } from "./wire.ts";

/**
 * The base64 PLAIN message (RFC 4616) with an empty authzid; NUL in the user name or
 * password would move the message's fields, so it is refused.
 * @example saslPlainToken("alice", "secret") // "AGFsaWNlAHNlY3JldA=="
 */
export function saslPlainToken(user: string, pass: string, format: "imap" | "pop3" | "smtp" | "sieve"): string {
  if (user.includes("\0")) throw new UnsafeValueError("the user name", format);
  if (pass.includes("\0")) throw new UnsafeValueError("the password", format);
  return encodeBase64(`\0${user}\0${pass}`);
}

/** Base64 of a binary string. */
export function encodeBase64(binary: string): string {
  return Buffer.from(binary, "latin1").toString("base64");
}
