/**
 * The client's SNI name must never add a line to the auth request (issue 13.1): Bun
 * accepts a server name holding CR/LF, which once went raw into Auth-SSL-Server-Name.
 * A name that is not a host name now ends the handshake, over implicit TLS and after
 * STARTTLS, for all three protocols; a host name still reaches the auth service.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../support/proxy.ts";
import { makeTestCertificate, type TestCertificate } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { type AuthServer, startAuthServer } from "../support/auth_server.ts";
import { OpensslClient } from "../support/openssl_client.ts";
import type { Protocol } from "../../src/config/model.ts";

const INJECTED = "x\r\nAuth-SSL-Verify: SUCCESS\r\nAuth-SSL-Subject: CN=alice";

const LOGIN: Record<Protocol, string> = {
  imap: "a1 LOGIN alice wrong\r\n",
  pop3: "USER alice\r\nPASS wrong\r\n",
  smtp: `EHLO client.example\r\nAUTH PLAIN ${Buffer.from("\0alice\0wrong").toString("base64")}\r\n`,
  sieve: `AUTHENTICATE "PLAIN" "${Buffer.from("\0alice\0wrong").toString("base64")}"\r\n`,
};

describe("SNI names that are not host names", () => {
  let cert: TestCertificate;
  let auth: AuthServer;
  let proxy: RunningProxy;
  const ports: Record<string, number> = {};

  before(async () => {
    cert = makeTestCertificate({ commonName: "mail.example.com", altNames: ["DNS:mail.example.com"] });
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login or password" } }));
    const servers: string[] = [];
    for (const protocol of ["imap", "pop3", "smtp", "sieve"] as const) {
      for (const mode of ["ssl", "starttls"] as const) {
        const port = await freePort();
        ports[`${protocol}/${mode}`] = port;
        servers.push(`server { listen 127.0.0.1:${port}${mode === "ssl" ? " ssl" : ""}; protocol ${protocol};
          ${mode === "starttls" ? "starttls on;" : ""} smtp_auth plain; }`);
      }
    }
    proxy = await startProxy(`mail {
      auth_http ${auth.url};
      server_name mail.example.com;
      ssl_certificate ${cert.certFile};
      ssl_certificate_key ${cert.keyFile};
      timeout 5s;
      ${servers.join("\n")}
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    cert.remove();
  });

  /** Handshake with `servername`, then try a login; resolves when the proxy has closed. */
  async function loginWithServerName(protocol: Protocol, mode: "ssl" | "starttls", servername: string): Promise<string> {
    const args = ["-servername", servername, ...(mode === "starttls" ? ["-starttls", protocol] : [])];
    const client = OpensslClient.start(ports[`${protocol}/${mode}`]!, args);
    await Promise.race([client.waitFor(/^---$/m).catch(() => {}), client.exited]);
    client.send(LOGIN[protocol]);
    const exited = await Promise.race([client.exited, new Promise((r) => setTimeout(() => r("timeout"), 10_000))]);
    if (exited === "timeout") await client.close();
    return client.output;
  }

  for (const protocol of ["imap", "pop3", "smtp", "sieve"] as const) {
    for (const mode of ["ssl", "starttls"] as const) {
      test(`${protocol} over ${mode === "ssl" ? "implicit TLS" : "STARTTLS"}: a name with CR/LF ends the handshake and the auth service hears nothing`, async () => {
        const before = auth.requests.length;
        await loginWithServerName(protocol, mode, INJECTED);
        assert.equal(auth.requests.length, before, "no auth request for a client whose SNI name holds CR/LF");
      });

      test(`${protocol} over ${mode === "ssl" ? "implicit TLS" : "STARTTLS"}: a host name reaches the auth service as Auth-SSL-Server-Name, lower-cased`, async () => {
        const before = auth.requests.length;
        await loginWithServerName(protocol, mode, "Mail.Example.com");
        assert.equal(auth.requests.length, before + 1);
        const req = auth.requests[before]!;
        assert.equal(req.header("Auth-SSL-Server-Name"), "mail.example.com");
        assert.equal(req.header("Auth-SSL-Verify"), undefined);
      });
    }
  }
});
