/**
 * The IMAP CAPABILITY line (protocols.md §3.4); its AUTH= words come from the
 * mechanism table the AUTHENTICATE dispatcher checks too (../mechanisms.ts).
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import { advertisedMechanisms } from "../mechanisms.ts";

interface ImapCapabilityOptions {
  imap_capabilities: readonly string[];
  imap_auth: readonly AuthMethodName[];
  starttls: StartTls;
  /** TLS is active on the client connection (implicit or after STARTTLS). */
  tls: boolean;
}

/**
 * The untagged CAPABILITY line, CRLF included.
 * @example imapCapabilityLine({ imap_capabilities: ["IMAP4", "IMAP4rev1", "UIDPLUS"], imap_auth: ["plain"], starttls: "off", tls: false })
 *   // "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n"
 */
export function imapCapabilityLine(opts: ImapCapabilityOptions): string {
  const words = [...opts.imap_capabilities];
  const auth = advertisedMechanisms("imap", opts.imap_auth).map((mechanism) => `AUTH=${mechanism}`);
  if (opts.tls || opts.starttls === "off") words.push(...auth);
  else if (opts.starttls === "on") words.push(...auth, "STARTTLS");
  else words.push("STARTTLS", "LOGINDISABLED");
  return ["* CAPABILITY", ...words].join(" ") + "\r\n";
}
