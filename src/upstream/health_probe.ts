/**
 * One active health probe of a backend (`health_check`): connect; with `greeting`, read
 * a positive greeting (`* OK`, `+OK`, `220`, ManageSieve's capabilities then `OK`); with
 * `starttls`, also ask for TLS in the protocol the greeting shows and finish a handshake
 * (the certificate is not verified: the probe asks whether the backend serves, not whom).
 * Resolves once, never rejects; the reason of a failure is for the log.
 */
import { defaultSockets } from "../net/choose.ts";
import type { HealthCheckSpec, Protocol, UpstreamServerSpec } from "../config/model.ts";
import { createBackendStarttls } from "../protocols/factory.ts";
import { ReplyFramer } from "./reply_framer.ts";
import { handshakeUpstream } from "./tls_out.ts";

type ProbeResult = { ok: true } | { ok: false; reason: string };

/** The protocol a greeting's first bytes show. */
function protocolOf(greeting: string): Protocol | undefined {
  if (greeting.startsWith("* OK")) return "imap";
  if (greeting.startsWith("+OK")) return "pop3";
  if (/^220[ -]/.test(greeting)) return "smtp";
  if (greeting.startsWith('"')) return "sieve";
  return undefined;
}

export function probeBackend(server: UpstreamServerSpec, check: HealthCheckSpec, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (result: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.owner = undefined;
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `timed out after ${timeoutMs}ms` }), timeoutMs);
    let head = "";
    let framer: ReplyFramer | undefined;
    let starttls: ReturnType<typeof createBackendStarttls> | undefined;
    const onBytes = (bytes: string) => {
      const framed = framer!.push(bytes);
      if (framed.type === "too-long") return finish({ ok: false, reason: "reply too long" });
      if (framed.type !== "reply") return;
      const step = starttls!.onReply(framed.text);
      if (step.type === "send") socket.write(Buffer.from(step.data, "latin1"));
      else if (step.type === "fail") finish({ ok: false, reason: step.reason });
      else if (step.type === "upgrade") {
        socket.owner = undefined;
        void handshakeUpstream(socket, { mode: "starttls", options: {}, verify: false, name: server.host }).then((outcome) => {
          finish(outcome.type === "ok" ? { ok: true } : { ok: false, reason: outcome.reason });
        });
      }
    };
    const socket = defaultSockets().connect(server.host, server.port, {
      socketError: (_s, err) => finish({ ok: false, reason: err.message }),
      socketClose: () => finish({ ok: false, reason: "connection closed" }),
      socketConnect: (s) => {
        if (!check.greeting) finish({ ok: true });
        else s.resume();
      },
      socketEnd() {},
      socketDrain() {},
      socketData: (_s, chunk) => {
        const bytes = chunk.toString("latin1");
        if (framer) return onBytes(bytes);
        head += bytes;
        if (head.length < 4 && !head.includes("\n")) return;
        const protocol = protocolOf(head);
        if (!protocol) return finish({ ok: false, reason: `unexpected greeting "${head.split("\r\n")[0]!.slice(0, 80)}"` });
        if (!check.starttls) return finish({ ok: true });
        framer = new ReplyFramer(protocol, 65536);
        starttls = createBackendStarttls(protocol, "mailproxy-health-check");
        onBytes(head);
      },
    });
  });
}
