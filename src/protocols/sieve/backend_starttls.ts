/**
 * ManageSieve's STARTTLS preamble toward a backend: capabilities and `OK`, `STARTTLS`,
 * `OK`. The backend re-issues its capabilities over TLS (RFC 5804 §2.2): the login
 * machine reads those as its greeting, so it is handed none.
 */
import { type BackendStarttls, type StarttlsStep, UPSTREAM_INVALID, UPSTREAM_REFUSED_TLS } from "../backend_starttls.ts";
import { sieveCommand } from "../../wire/sieve.ts";
import { sieveStatus } from "./response.ts";

export function sieveBackendStarttls(): BackendStarttls {
  let greeted = false;
  /** Replies arrive in pieces until their status line. */
  let received = "";
  return {
    onReply(reply: string): StarttlsStep {
      received += reply;
      const status = sieveStatus(received);
      if (status === null) return { type: "wait" };
      const whole = received;
      received = "";
      if (!greeted) {
        if (status.status !== "OK") return { type: "fail", reply: whole, reason: UPSTREAM_INVALID };
        greeted = true;
        return { type: "send", data: sieveCommand("STARTTLS") };
      }
      return status.status === "OK" ? { type: "upgrade", greeting: "" } : { type: "fail", reply: whole, reason: UPSTREAM_REFUSED_TLS };
    },
  };
}
