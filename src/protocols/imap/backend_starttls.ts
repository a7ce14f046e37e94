/** IMAP's STARTTLS preamble toward a backend: greeting `* OK`, `S1 STARTTLS`, `S1 OK`. */
import { type BackendStarttls, type StarttlsStep, UPSTREAM_INVALID, UPSTREAM_REFUSED_TLS } from "../backend_starttls.ts";
import { imapTagged } from "../../wire/imap.ts";

/** The tag of the proxy's own STARTTLS command; the client never sees it. */
const TAG = "S1 ";

export function imapBackendStarttls(): BackendStarttls {
  let greeting: string | undefined;
  return {
    onReply(reply: string): StarttlsStep {
      if (greeting === undefined) {
        if (!reply.startsWith("* OK")) return { type: "fail", reply, reason: UPSTREAM_INVALID };
        greeting = reply;
        return { type: "send", data: imapTagged(TAG, "STARTTLS") };
      }
      const tagged = reply.split("\r\n").find((line) => line.startsWith(TAG));
      if (tagged === undefined) return { type: "wait" };
      return tagged.startsWith(`${TAG}OK`) ? { type: "upgrade", greeting } : { type: "fail", reply, reason: UPSTREAM_REFUSED_TLS };
    },
  };
}
