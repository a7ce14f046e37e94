/**
 * The EHLO reply (protocols.md §5.5), derived from `smtp_auth` and
 * `smtp_capabilities`.
 */
import type { AuthMethodName, StartTls } from "../../config/model.ts";
import { smtpReply } from "./reply.ts";
import { advertisedMechanisms } from "../mechanisms.ts";

interface EhloOptions {
  serverName: string;
  /** `smtp_capabilities` entries. */
  capabilities: readonly string[];
  auth: readonly AuthMethodName[];
  starttls: StartTls;
  /** TLS is active (implicit or after STARTTLS). */
  tlsActive: boolean;
}

/**
 * The whole multi-line EHLO reply.
 * @example ehloReply({ serverName: "mx.example.com", capabilities: [], auth: ["plain", "login"], starttls: "off", tlsActive: false })
 *   // "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"
 */
export function ehloReply(opts: EhloOptions): string {
  const offerStarttls = !opts.tlsActive && opts.starttls !== "off";
  const mechanisms = advertisedMechanisms("smtp", opts.auth);
  const lines = [opts.serverName, ...opts.capabilities];
  const authHidden = offerStarttls && opts.starttls === "only";
  if (!authHidden && mechanisms.length > 0) lines.push(["AUTH", ...mechanisms].join(" "));
  if (offerStarttls) lines.push("STARTTLS");
  return smtpReply("250", lines);
}
