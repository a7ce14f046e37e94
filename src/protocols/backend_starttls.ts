/**
 * The STARTTLS preamble towards a backend (beyond nginx): after the greeting, ask for
 * TLS with the protocol's command, and hand back the greeting so that the backend
 * login machine (`BackendLogin`) starts as if it had just connected. No I/O. Each
 * protocol's preamble lives in its folder (`<protocol>/backend_starttls.ts`);
 * factory.ts picks it.
 *
 *   IMAP  greeting `* OK`  → `<tag> STARTTLS` → `<tag> OK`
 *   POP3  greeting `+OK`   → `STLS`           → `+OK`
 *   SMTP  greeting `220`   → `EHLO <name>` → `250` → `STARTTLS` → `220`
 *         (the login machine then sends EHLO again, over TLS, as RFC 3207 requires)
 *   Sieve capabilities, `OK` → `STARTTLS` → `OK`
 *         (the backend re-issues its capabilities over TLS, RFC 5804 §2.2: the login
 *         machine reads those as its greeting, so it is handed none)
 */
import type { BackendWire } from "../wire/wire.ts";

export type StarttlsStep =
  /** Write this to the backend and wait for the next reply. */
  | { type: "send"; data: BackendWire }
  /** Nothing to write (an untagged IMAP line, a part of a ManageSieve reply); keep reading. */
  | { type: "wait" }
  /** Start the TLS handshake now; then feed `greeting` to the backend login machine. */
  | { type: "upgrade"; greeting: string }
  /** The backend did not greet, or refused TLS; `reply` is its whole reply. */
  | { type: "fail"; reply: string; reason: string };

export interface BackendStarttls {
  /** Feed one complete backend reply (framed by upstream/reply_framer.ts). */
  onReply(reply: string): StarttlsStep;
}

export const UPSTREAM_INVALID = "upstream sent invalid response";
export const UPSTREAM_REFUSED_TLS = "upstream refused STARTTLS";
