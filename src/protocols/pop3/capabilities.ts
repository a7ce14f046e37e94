/**
 * POP3 capability texts (protocols.md §4.3, §4.4): the CAPA reply and the bare
 * `AUTH` mechanism listing, both derived from `pop3_auth`.
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import { advertisedMechanisms } from "../mechanisms.ts";

interface Pop3CapaOptions {
  /** `pop3_capabilities` lines. */
  capabilities: readonly string[];
  auth: readonly AuthMethodName[];
  starttls: StartTls;
  /** TLS is active (implicit or after STLS). */
  tlsActive: boolean;
  /** The client already sent USER: the list never mentions STLS then. */
  afterUser: boolean;
}

/**
 * The whole CAPA reply, CRLF-terminated lines ending with `.`.
 * @example pop3Capa({ capabilities: ["TOP", "USER", "UIDL"], auth: ["plain"], starttls: "off", tlsActive: false, afterUser: false })
 *   // "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n"
 */
export function pop3Capa(opts: Pop3CapaOptions): string {
  const offerStls = !opts.tlsActive && !opts.afterUser && opts.starttls !== "off";
  const lines = ["+OK Capability list follows"];
  if (offerStls && opts.starttls === "only") {
    lines.push(...opts.capabilities.filter((c) => c.toUpperCase() !== "USER"));
  } else {
    lines.push(...opts.capabilities);
    lines.push(["SASL", ...advertisedMechanisms("pop3", opts.auth)].join(" "));
  }
  if (offerStls) lines.push("STLS");
  lines.push(".");
  return lines.map((l) => l + "\r\n").join("");
}

/** The reply to a bare `AUTH`: one mechanism per line. */
export function pop3AuthListing(auth: readonly AuthMethodName[]): string {
  const lines = ["+OK methods supported:", ...advertisedMechanisms("pop3", auth), "."];
  return lines.map((l) => l + "\r\n").join("");
}
