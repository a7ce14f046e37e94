/**
 * SMTP's STARTTLS preamble toward a backend: greeting `220`, `EHLO <name>`, `250`,
 * `STARTTLS`, `220`; the login machine then sends EHLO again, over TLS, as RFC 3207 requires.
 */
import { type BackendStarttls, type StarttlsStep, UPSTREAM_INVALID, UPSTREAM_REFUSED_TLS } from "../backend_starttls.ts";
import { smtpCommand } from "../../wire/smtp.ts";

export function smtpBackendStarttls(serverName: string): BackendStarttls {
  let greeting: string | undefined;
  let ehloDone = false;
  return {
    onReply(reply: string): StarttlsStep {
      if (greeting === undefined) {
        if (!reply.startsWith("220")) return { type: "fail", reply, reason: UPSTREAM_INVALID };
        greeting = reply;
        return { type: "send", data: smtpCommand(`EHLO ${serverName}`) };
      }
      if (!ehloDone) {
        if (!reply.startsWith("250")) return { type: "fail", reply, reason: UPSTREAM_INVALID };
        ehloDone = true;
        return { type: "send", data: smtpCommand("STARTTLS") };
      }
      return reply.startsWith("220") ? { type: "upgrade", greeting } : { type: "fail", reply, reason: UPSTREAM_REFUSED_TLS };
    },
  };
}
