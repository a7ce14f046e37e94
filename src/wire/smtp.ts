/** SMTP command lines toward a backend, XCLIENT among them. */
import { commandLine, UnsafeValueError, type Wire } from "./wire.ts";
import { xtext } from "./xtext.ts";

/**
 * A command line whose arguments came from the client or the config (HELO name, the
 * stored MAIL and RCPT texts): UnsafeValueError if it holds CR, LF or NUL.
 * @example smtpCommand("EHLO mx.example.com") // "EHLO mx.example.com\r\n"
 */
export function smtpCommand(text: string): Wire<"smtp"> {
  return commandLine("smtp", text);
}

/** An XCLIENT attribute value sent unencoded (ADDR, NAME): printable, no space, so no attribute can be added. */
const PLAIN_ATTRIBUTE = /^[\x21-\x7e]+$/;

interface XclientAttributes {
  /** The client address; IPv6 gets the `IPV6:` prefix. */
  addr: string;
  /** The client's login, xtext-encoded; omitted when undefined. */
  login?: string;
  /** Client-Host: a validated host name or `[UNAVAILABLE]` / `[TEMPUNAVAIL]`. */
  name: string;
}

/**
 * @example xclientCommand({ addr: "192.0.2.7", login: "john doe", name: "[UNAVAILABLE]" })
 *   // "XCLIENT ADDR=192.0.2.7 LOGIN=john+20doe NAME=[UNAVAILABLE]\r\n"
 */
export function xclientCommand(a: XclientAttributes): Wire<"smtp"> {
  const addr = a.addr.includes(":") ? `IPV6:${a.addr}` : a.addr;
  if (!PLAIN_ATTRIBUTE.test(addr)) throw new UnsafeValueError("the XCLIENT ADDR", "smtp");
  if (!PLAIN_ATTRIBUTE.test(a.name)) throw new UnsafeValueError("the XCLIENT NAME", "smtp");
  const login = a.login === undefined ? "" : ` LOGIN=${xtext(a.login)}`;
  return commandLine("smtp", `XCLIENT ADDR=${addr}${login} NAME=${a.name}`);
}
