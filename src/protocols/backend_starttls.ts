/**
 * The STARTTLS preamble towards a backend (beyond nginx): after the greeting, ask for
 * TLS with the protocol's command, and hand back the greeting so that the backend
 * login machine (`BackendLogin`) starts as if it had just connected. No I/O.
 *
 *   IMAP  greeting `* OK`  → `<tag> STARTTLS` → `<tag> OK`
 *   POP3  greeting `+OK`   → `STLS`           → `+OK`
 *   SMTP  greeting `220`   → `EHLO <name>` → `250` → `STARTTLS` → `220`
 *         (the login machine then sends EHLO again, over TLS, as RFC 3207 requires)
 *   Sieve capabilities, `OK` → `STARTTLS` → `OK`
 *         (the backend re-issues its capabilities over TLS, RFC 5804 §2.2: the login
 *         machine reads those as its greeting, so it is handed none)
 */
import type { Protocol } from "../config/model.ts";
import type { BackendWire } from "../wire/wire.ts";
import { imapTagged } from "../wire/imap.ts";
import { pop3Command } from "../wire/pop3.ts";
import { smtpCommand } from "../wire/smtp.ts";
import { sieveCommand } from "../wire/sieve.ts";
import { sieveStatus } from "./sieve/response.ts";

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

/** The tag of the proxy's own IMAP STARTTLS command; the client never sees it. */
const IMAP_TAG = "S1 ";

const INVALID = "upstream sent invalid response";
const REFUSED = "upstream refused STARTTLS";

/**
 * @example
 *   const pre = createBackendStarttls("pop3", "mx.example.com");
 *   pre.onReply("+OK ready\r\n"); // { type: "send", data: "STLS\r\n" }
 *   pre.onReply("+OK begin TLS\r\n"); // { type: "upgrade", greeting: "+OK ready\r\n" }
 */
export function createBackendStarttls(protocol: Protocol, serverName: string): BackendStarttls {
  let greeting: string | undefined;
  let ehloDone = false;
  /** ManageSieve replies arrive in pieces until their status line. */
  let sieveReply = "";
  return {
    onReply(reply: string): StarttlsStep {
      if (protocol === "sieve") {
        sieveReply += reply;
        const status = sieveStatus(sieveReply);
        if (status === null) return { type: "wait" };
        const whole = sieveReply;
        sieveReply = "";
        if (greeting === undefined) {
          if (status.status !== "OK") return { type: "fail", reply: whole, reason: INVALID };
          greeting = whole;
          return { type: "send", data: sieveCommand("STARTTLS") };
        }
        return status.status === "OK" ? { type: "upgrade", greeting: "" } : { type: "fail", reply: whole, reason: REFUSED };
      }
      if (greeting === undefined) {
        const ok = protocol === "imap" ? reply.startsWith("* OK") : protocol === "pop3" ? reply.startsWith("+OK") : reply.startsWith("220");
        if (!ok) return { type: "fail", reply, reason: INVALID };
        greeting = reply;
        if (protocol === "imap") return { type: "send", data: imapTagged(IMAP_TAG, "STARTTLS") };
        if (protocol === "pop3") return { type: "send", data: pop3Command("STLS") };
        return { type: "send", data: smtpCommand(`EHLO ${serverName}`) };
      }
      switch (protocol) {
        case "imap": {
          const tagged = reply.split("\r\n").find((line) => line.startsWith(IMAP_TAG));
          if (tagged === undefined) return { type: "wait" };
          return tagged.startsWith(`${IMAP_TAG}OK`) ? { type: "upgrade", greeting } : { type: "fail", reply, reason: REFUSED };
        }
        case "pop3":
          return reply.startsWith("+OK") ? { type: "upgrade", greeting } : { type: "fail", reply, reason: REFUSED };
        case "smtp":
          if (!ehloDone) {
            if (!reply.startsWith("250")) return { type: "fail", reply, reason: INVALID };
            ehloDone = true;
            return { type: "send", data: smtpCommand("STARTTLS") };
          }
          return reply.startsWith("220") ? { type: "upgrade", greeting } : { type: "fail", reply, reason: REFUSED };
      }
    },
  };
}
