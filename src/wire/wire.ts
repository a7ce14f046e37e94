/**
 * The one way out of mailproxy toward the auth service and the backends.
 *
 * Sockets on that side accept only `Wire` text, and only the encoders in src/wire/
 * make it: each wire format has its module, and each refuses (throws
 * `UnsafeValueError`) or escapes CR, LF and NUL in any value it is handed. A value a
 * client or a certificate can influence therefore cannot reach the auth service or a
 * backend except through its format's encoder. tests/wire/structure.test.ts keeps
 * `wireText` from being called anywhere else.
 */

declare const wireFormat: unique symbol;

/** Where encoded text goes: the auth_http request, a backend's command lines, the PROXY header. */
type WireFormat = "http" | "imap" | "pop3" | "smtp" | "sieve" | "proxy";

/** Binary text (one char = one byte) that passed the encoder of format `F`. */
export type Wire<F extends WireFormat> = string & { readonly [wireFormat]: F };

/** Text for a backend socket, whatever its mail protocol. */
export type BackendWire = Wire<"imap" | "pop3" | "smtp" | "sieve">;

/**
 * A value that its wire format cannot carry. The message names the field, never the
 * value: the value may be a password.
 */
export class UnsafeValueError extends Error {
  readonly code = "EUNSAFEVALUE";
  constructor(field: string, format: WireFormat) {
    super(`${field} cannot be sent ${WHERE[format]}: it contains a byte that format cannot carry`);
    this.name = "UnsafeValueError";
  }
}

const WHERE: Record<WireFormat, string> = {
  http: "in the auth request",
  imap: "to the IMAP backend",
  pop3: "to the POP3 backend",
  smtp: "to the SMTP backend",
  sieve: "to the ManageSieve backend",
  proxy: "in the PROXY header",
};

/** Only encoders call this: the text has been checked for its format. */
export function wireText<F extends WireFormat>(text: string, _format: F): Wire<F> {
  return text as Wire<F>;
}

const LINE_BREAK_OR_NUL = /[\r\n\0]/;

/**
 * Whether a line-based command can carry `value` as an argument.
 * @example carriesInLine("alice") // true
 * @example carriesInLine("alice\r\nDELE 1") // false
 */
function carriesInLine(value: string): boolean {
  return !LINE_BREAK_OR_NUL.test(value);
}

/** `value` unchanged, or UnsafeValueError when it holds CR, LF or NUL. */
export function lineSafe(value: string, field: string, format: WireFormat): string {
  if (!carriesInLine(value)) throw new UnsafeValueError(field, format);
  return value;
}

/**
 * A quoted string as IMAP (RFC 3501 §4.3) and ManageSieve (RFC 5804 §4) both write it:
 * `"` and `\` escaped; CR, LF and NUL refused, since neither format can carry them there.
 * @example quotedString('say "hi"', "a value", "imap") // '"say \\"hi\\""'
 */
export function quotedString(value: string, field: string, format: "imap" | "sieve"): string {
  return `"${lineSafe(value, field, format).replace(/[\\"]/g, (c) => "\\" + c)}"`;
}

/**
 * One command line: `text` plus CRLF, for lines made of the proxy's own words and
 * values already checked or encoded (numbers, base64, xtext, quoted strings).
 * @example commandLine("pop3", "STLS") // "STLS\r\n"
 */
export function commandLine<F extends "imap" | "pop3" | "smtp" | "sieve">(format: F, text: string): Wire<F> {
  return wireText(lineSafe(text, "a command", format) + "\r\n", format);
}

/**
 * Whether the backend login of `protocol` can carry this user name and password:
 * POP3's USER and PASS are raw arguments (no CR, LF or NUL); IMAP literals and SASL
 * PLAIN (SMTP, ManageSieve) carry CR and LF but not NUL. The machines refuse the rest
 * before anything is sent.
 * @example credentialsFit("pop3", { user: "alice\r\nDELE 1", pass: "x" }) // false
 */
export function credentialsFit(protocol: "imap" | "pop3" | "smtp" | "sieve", c: { user: string; pass: string }): boolean {
  if (protocol === "pop3") return carriesInLine(c.user) && carriesInLine(c.pass);
  return !c.user.includes("\0") && !c.pass.includes("\0");
}
