/** POP3's STARTTLS preamble toward a backend: greeting `+OK`, `STLS`, `+OK`. */
import { type BackendStarttls, type StarttlsStep, UPSTREAM_INVALID, UPSTREAM_REFUSED_TLS } from "../backend_starttls.ts";
import { pop3Command } from "../../wire/pop3.ts";

export function pop3BackendStarttls(): BackendStarttls {
  let greeting: string | undefined;
  return {
    onReply(reply: string): StarttlsStep {
      if (greeting === undefined) {
        if (!reply.startsWith("+OK")) return { type: "fail", reply, reason: UPSTREAM_INVALID };
        greeting = reply;
        return { type: "send", data: pop3Command("STLS") };
      }
      return reply.startsWith("+OK") ? { type: "upgrade", greeting } : { type: "fail", reply, reason: UPSTREAM_REFUSED_TLS };
    },
  };
}
