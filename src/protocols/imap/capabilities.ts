/**
 * The IMAP CAPABILITY line (protocols.md §3.4) and the SASL mechanism table the
 * AUTHENTICATE dispatcher shares with it, so what is advertised and what is
 * accepted come from one place.
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import type { SaslMechanism } from "../sasl.ts";

/**
 * `imap_auth` methods with an `AUTH=` word, in the fixed advertising order.
 * `mechanism` is the SASL exchange that handles it (XOAUTH2 and OAUTHBEARER go
 * beyond nginx).
 */
export const IMAP_AUTH_WORDS: ReadonlyArray<{ method: AuthMethodName; word: string; mechanism: SaslMechanism }> = [
  { method: "plain", word: "AUTH=PLAIN", mechanism: "PLAIN" },
  { method: "login", word: "AUTH=LOGIN", mechanism: "LOGIN" },
  { method: "cram-md5", word: "AUTH=CRAM-MD5", mechanism: "CRAM-MD5" },
  { method: "external", word: "AUTH=EXTERNAL", mechanism: "EXTERNAL" },
  { method: "xoauth2", word: "AUTH=XOAUTH2", mechanism: "XOAUTH2" },
  { method: "oauthbearer", word: "AUTH=OAUTHBEARER", mechanism: "OAUTHBEARER" },
];

/** Mechanisms AUTHENTICATE accepts whatever `imap_auth` says (protocols.md §2). */
const ALWAYS_ACCEPTED: ReadonlySet<SaslMechanism> = new Set(["PLAIN", "LOGIN"]);

/** Whether AUTHENTICATE accepts `mechanism` with this `imap_auth` list. */
export function imapMechanismEnabled(mechanism: SaslMechanism, imapAuth: readonly AuthMethodName[]): boolean {
  if (ALWAYS_ACCEPTED.has(mechanism)) return true;
  return IMAP_AUTH_WORDS.some((entry) => entry.mechanism === mechanism && imapAuth.includes(entry.method));
}

export interface ImapCapabilityOptions {
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
  const auth = IMAP_AUTH_WORDS.filter((entry) => opts.imap_auth.includes(entry.method)).map((entry) => entry.word);
  if (opts.tls || opts.starttls === "off") words.push(...auth);
  else if (opts.starttls === "on") words.push(...auth, "STARTTLS");
  else words.push("STARTTLS", "LOGINDISABLED");
  return ["* CAPABILITY", ...words].join(" ") + "\r\n";
}
