/**
 * IMAP command text toward a backend: tagged lines, literal bodies and quoted strings.
 * A literal can carry CR and LF but never NUL (RFC 3501's CHAR8); a quoted string
 * carries neither CR, LF nor NUL.
 */
import { commandLine, quotedString, UnsafeValueError, type Wire, wireText } from "./wire.ts";

/** The client's tag with its separating space, e.g. "a1 ": tag characters only. */
const TAG = /^[\x21-\x7e]+ $/;
const NOT_IN_TAG = /[(){%*"\\]/;

/**
 * `<tag><command>\r\n`; the tag is the client's and must be a tag.
 * @example imapTagged("a1 ", "STARTTLS") // "a1 STARTTLS\r\n"
 */
export function imapTagged(tag: string, command: string): Wire<"imap"> {
  if (!TAG.test(tag) || NOT_IN_TAG.test(tag)) throw new UnsafeValueError("the tag", "imap");
  return commandLine("imap", tag + command);
}

/**
 * The body of a synchronizing literal, then either the next literal's announcement or the line's end.
 * @example imapLiteralBody("john", 6) // "john {6}\r\n"
 * @example imapLiteralBody("secret") // "secret\r\n"
 */
export function imapLiteralBody(bytes: string, nextLiteralSize?: number): Wire<"imap"> {
  if (bytes.includes("\0")) throw new UnsafeValueError("a literal", "imap");
  return wireText(nextLiteralSize === undefined ? `${bytes}\r\n` : `${bytes} {${nextLiteralSize}}\r\n`, "imap");
}

/**
 * A quoted string (RFC 3501 §4.3): `"` and `\` escaped; CR, LF and NUL refused.
 * @example imapQuoted('say "hi"', "an ID value") // '"say \\"hi\\""'
 */
export function imapQuoted(value: string, field: string): string {
  return quotedString(value, field, "imap");
}
