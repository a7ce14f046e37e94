/**
 * Shared fixtures of the TLS integration tests: test certificates, an auth server that
 * knows one user per protocol, the demo IMAP backend and line-scripted POP3/SMTP
 * backends that answer every command with success.
 */
import { type AuthServer, defaultAuthHandler, startAuthServer } from "./auth_server.ts";
import { type DemoImapServer, startDemoImap } from "../../scripts/demo/imap_backend.ts";
import { type ScriptedBackend, startScriptedBackend } from "./scripted_backend.ts";
import { makeTestPki, type TestPki } from "./pki.ts";

export const MESSAGE = "Subject: hello\r\n\r\nbody of the message\r\n";

export interface TlsWorld {
  pki: TestPki;
  auth: AuthServer;
  imap: DemoImapServer;
  pop3: ScriptedBackend;
  smtp: ScriptedBackend;
  close(): Promise<void>;
}

/** A backend that greets with `greeting` and answers each command line with `reply(line)`. */
function lineBackend(greeting: string, reply: (line: string) => string): Promise<ScriptedBackend> {
  return startScriptedBackend((c) => {
    c.send(greeting);
    let pending = "";
    c.socket.on("data", (d: Buffer) => {
      pending += d.toString("latin1");
      for (let i = pending.indexOf("\r\n"); i >= 0; i = pending.indexOf("\r\n")) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 2);
        c.send(reply(line));
      }
    });
  });
}

export async function startTlsWorld(): Promise<TlsWorld> {
  const pki = makeTestPki();
  const imap = await startDemoImap({ alice: { password: "secret", messages: [MESSAGE] } });
  const pop3 = await lineBackend("+OK backend pop3\r\n", (l) => (l.startsWith("PASS") ? "+OK backend logged in\r\n" : "+OK\r\n"));
  const smtp = await lineBackend("220 backend smtp\r\n", () => "250 backend ok\r\n");
  const auth = await startAuthServer(defaultAuthHandler({
    alice: { password: "secret", backend: { host: "127.0.0.1", port: imap.port } },
    pat: { password: "secret", backend: { host: "127.0.0.1", port: pop3.port } },
    sam: { password: "secret", backend: { host: "127.0.0.1", port: smtp.port } },
  }));
  return {
    pki,
    auth,
    imap,
    pop3,
    smtp,
    close: async () => {
      await auth.close();
      await imap.close();
      await pop3.close();
      await smtp.close();
      pki.remove();
    },
  };
}

/** ssl_certificate lines for the ECDSA server certificate. */
export function ecCertificate(pki: TestPki): string {
  return `ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.ecKey};`;
}
