/**
 * Many domains on one address (beyond nginx): servers sharing a listen address are told
 * apart by server_name; the TLS handshake's SNI name picks the server, its certificate
 * and its settings; no SNI or an unknown name gets the default server.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import type tls from "node:tls";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { makeTestCertificate, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";

describe("SNI: several servers on one address", () => {
  let alpha: TestCertificate;
  let beta: TestCertificate;
  let fallback: TestCertificate;
  let imap: DemoImapServer;
  let auth: AuthServer;
  let proxy: RunningProxy;
  let implicitPort: number;
  let starttlsPort: number;

  before(async () => {
    alpha = makeTestCertificate({ commonName: "alpha.example", altNames: ["DNS:alpha.example"] });
    beta = makeTestCertificate({ commonName: "beta.example", altNames: ["DNS:*.beta.example"] });
    fallback = makeTestCertificate({ commonName: "default.example", altNames: ["DNS:default.example"] });
    imap = await startDemoImap({ alice: { password: "secret", messages: [] } });
    auth = await startAuthServer(defaultAuthHandler({ alice: { password: "secret", backend: { host: "127.0.0.1", port: imap.port } } }));
    const ticketKey = `${alpha.dir}/ticket.key`;
    fs.writeFileSync(ticketKey, crypto.randomBytes(48));
    implicitPort = await freePort();
    starttlsPort = await freePort();
    const cert = (c: TestCertificate) => `ssl_certificate ${c.certFile}; ssl_certificate_key ${c.keyFile};`;
    proxy = await startProxy(`mail {
      auth_http ${auth.url};
      timeout 5s;
      server { listen 127.0.0.1:${implicitPort} ssl; protocol imap; server_name alpha.example; ${cert(alpha)}
        imap_capabilities IMAP4rev1 X-ALPHA; ssl_session_ticket_key ${ticketKey}; }
      server { listen 127.0.0.1:${implicitPort} ssl; protocol imap; server_name *.beta.example; ${cert(beta)}
        imap_capabilities IMAP4rev1 X-BETA; }
      server { listen 127.0.0.1:${implicitPort} ssl default_server; protocol imap; server_name default.example; ${cert(fallback)}
        imap_capabilities IMAP4rev1 X-DEFAULT; }
      server { listen 127.0.0.1:${starttlsPort}; protocol imap; starttls on; server_name default.example; ${cert(fallback)}
        imap_capabilities IMAP4rev1 X-DEFAULT; }
      server { listen 127.0.0.1:${starttlsPort}; protocol imap; starttls on; server_name alpha.example; ${cert(alpha)}
        imap_capabilities IMAP4rev1 X-ALPHA; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    await imap.close();
    for (const c of [alpha, beta, fallback]) c.remove();
  });

  const peerCn = (c: WireClient) => (c.socket as tls.TLSSocket).getPeerCertificate().subject?.CN;

  /** Connect with `servername` (undefined = no SNI), check the certificate, return the CAPABILITY line. */
  async function capabilityVia(servername: string | undefined, expectedCn: string): Promise<string> {
    const c = await WireClient.connectTls(implicitPort, servername === undefined ? {} : { servername });
    assert.equal(peerCn(c), expectedCn);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 CAPABILITY\r\n");
    const caps = await c.line();
    assert.equal(await c.line(), "a1 OK completed");
    c.close();
    return caps;
  }

  test("the SNI name picks the server: its certificate and its settings", async () => {
    assert.equal(await capabilityVia("alpha.example", "alpha.example"), "* CAPABILITY IMAP4rev1 X-ALPHA AUTH=PLAIN");
  });

  test("a wildcard server_name matches a name one label deeper, case-insensitively", async () => {
    assert.equal(await capabilityVia("IMAP.Beta.Example", "beta.example"), "* CAPABILITY IMAP4rev1 X-BETA AUTH=PLAIN");
  });

  test("no SNI or an unknown name gets the default_server", async () => {
    assert.equal(await capabilityVia(undefined, "default.example"), "* CAPABILITY IMAP4rev1 X-DEFAULT AUTH=PLAIN");
    assert.equal(await capabilityVia("other.example", "default.example"), "* CAPABILITY IMAP4rev1 X-DEFAULT AUTH=PLAIN");
  });

  test("the chosen name reaches the auth service as Auth-SSL-Server-Name", async () => {
    const c = await WireClient.connectTls(implicitPort, { servername: "mail.beta.example" });
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.match(await c.line(), /^a1 OK /);
    c.close();
    const req = auth.requests[auth.requests.length - 1]!;
    assert.equal(req.header("Auth-SSL-Server-Name"), "mail.beta.example");
  });

  test("STARTTLS on a shared address: the first server (no default_server) keeps the dialogue, SNI picks the certificate", async () => {
    const plain = await WireClient.connect(starttlsPort);
    assert.equal(await plain.line(), "* OK IMAP4 ready");
    plain.send("a1 STARTTLS\r\n");
    assert.equal(await plain.line(), "a1 OK completed");
    const c = await plain.startTls({ servername: "alpha.example" });
    assert.equal(peerCn(c), "alpha.example");
    c.send("a2 CAPABILITY\r\n");
    assert.equal(await c.line(), "* CAPABILITY IMAP4rev1 X-DEFAULT AUTH=PLAIN");
    assert.equal(await c.line(), "a2 OK completed");
    c.close();
  });

  test("a failed handshake is logged with its reason", async () => {
    const c = await WireClient.connect(implicitPort);
    c.send("a1 LOGIN alice secret\r\n");
    await c.rest();
    const lines = proxy.log().split("\n").filter((l) => l.includes("TLS handshake failed"));
    assert.equal(lines.length, 1, proxy.log());
    assert.match(lines[0]!, /TLS handshake failed: \S/);
  });

  test("TLS settings that work differently on this runtime are warned about once at startup", () => {
    const warnings = proxy.log().split("\n").filter((l) => l.includes('"ssl_session_ticket_key" files are checked but not used on'));
    assert.equal(warnings.length, 1, proxy.log());
    assert.match(warnings[0]!, /\[warn\]/);
  });
});
