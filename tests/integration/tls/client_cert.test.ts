/**
 * Client certificates (ssl_verify_client on|optional|optional_no_ca, ssl_client_certificate,
 * ssl_trusted_certificate, ssl_verify_depth, ssl_crl): the line each protocol sends before
 * closing (protocols.md §1.6), the Auth-SSL-* headers (auth-http.md §2.1) and EXTERNAL.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { ecCertificate, startTlsWorld, type TlsWorld } from "../../support/tls_world.ts";
import { NASTY_CN } from "../../support/pki.ts";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../../support/scripted_backend.ts";

describe("client certificates through mailproxy", () => {
  let world: TlsWorld;
  let proxy: RunningProxy;
  /** A backend that only records what arrives (the PROXY v2 header), and the auth server sending alice there. */
  let headerSink: ScriptedBackend;
  let sinkConnection: Promise<ScriptedConnection>;
  let sinkAuth: AuthServer;
  const port: Record<string, number> = {};

  before(async () => {
    world = await startTlsWorld();
    const { pki } = world;
    let connected: (c: ScriptedConnection) => void;
    sinkConnection = new Promise((resolve) => (connected = resolve));
    headerSink = await startScriptedBackend((c) => connected(c));
    sinkAuth = await startAuthServer(defaultAuthHandler({ alice: { password: "secret", backend: { host: "127.0.0.1", port: headerSink.port } } }));
    const servers: Record<string, string> = {
      on: `listen ssl; protocol imap; ssl_verify_client on; ssl_client_certificate ${pki.caFile}; auth_http_pass_client_cert on;`,
      trusted: `listen ssl; protocol imap; ssl_verify_client on; ssl_trusted_certificate ${pki.caFile};`,
      optional: `listen ssl; protocol imap; ssl_verify_client optional; ssl_client_certificate ${pki.caFile};`,
      noca: `listen ssl; protocol imap; ssl_verify_client optional_no_ca;`,
      crl: `listen ssl; protocol imap; ssl_verify_client on; ssl_client_certificate ${pki.caFile}; ssl_crl ${pki.crlFile};`,
      depth0: `listen ssl; protocol imap; ssl_verify_client on; ssl_client_certificate ${pki.caFile}; ssl_verify_depth 0;`,
      starttls: `listen; protocol imap; starttls on; ssl_verify_client on; ssl_client_certificate ${pki.caFile};`,
      pop3: `listen ssl; protocol pop3; ssl_verify_client on; ssl_client_certificate ${pki.caFile};`,
      smtp: `listen ssl; protocol smtp; ssl_verify_client on; ssl_client_certificate ${pki.caFile};`,
      pp2: `listen ssl; protocol imap; ssl_verify_client on; ssl_client_certificate ${pki.caFile}; proxy_protocol v2; auth_http ${sinkAuth.url};`,
    };
    let text = "";
    for (const [name, body] of Object.entries(servers)) {
      port[name] = await freePort();
      text += `server { ${body.replace(/^listen( ssl)?;/, (_, ssl) => `listen 127.0.0.1:${port[name]}${ssl ?? ""};`)} }\n`;
    }
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${world.auth.url};
      imap_auth plain external;
      timeout 5s;
      ${ecCertificate(pki)}
      ${text}
    }`);
  });

  after(async () => {
    await proxy.stop();
    await sinkAuth.close();
    await headerSink.close();
    await world.close();
  });

  const read = (file: string) => fs.readFileSync(file, "latin1");
  const as = (who: "alice" | "mallory" | "bob" | "carol" | "forged" | "dave" | "nasty") => {
    const { pki } = world;
    const files = {
      alice: [pki.aliceCert, pki.aliceKey],
      mallory: [pki.malloryCert, pki.malloryKey],
      bob: [pki.bobCert, pki.bobKey, pki.bobChain],
      carol: [pki.carolCert, pki.carolKey],
      forged: [pki.forgedCert, pki.forgedKey, pki.forgedChain],
      dave: [pki.serverOnlyCert, pki.serverOnlyKey],
      nasty: [pki.nastyCert, pki.nastyKey],
    }[who];
    return { cert: read(files[0]) + (files[2] ? read(files[2]) : ""), key: read(files[1]) };
  };

  async function loginHeaders(server: string, client: object = {}): Promise<ReturnType<TlsWorld["auth"]["requests"]["at"]>> {
    const c = await WireClient.connectTls(port[server], client);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
    return world.auth.requests[world.auth.requests.length - 1];
  }

  /** What the client reads before the proxy closes. */
  async function refused(server: string, client: object = {}): Promise<string> {
    const c = await WireClient.connectTls(port[server], client);
    return await c.rest();
  }

  test("a verified certificate reaches the auth service as Auth-SSL-Verify, -Subject, -Issuer, -Serial, -Fingerprint and -Cert", async () => {
    const req = await loginHeaders("on", as("alice"));
    const alice = new crypto.X509Certificate(read(world.pki.aliceCert));
    const names = req!.headers.map(([n]) => n);
    assert.deepEqual(names.slice(names.indexOf("Auth-SSL")), [
      "Auth-SSL", "Auth-SSL-Protocol", "Auth-SSL-Cipher", "Auth-SSL-Verify", "Auth-SSL-Subject", "Auth-SSL-Issuer",
      "Auth-SSL-Serial", "Auth-SSL-Fingerprint", "Auth-SSL-Cert",
    ]);
    assert.equal(req!.header("Auth-SSL-Verify"), "SUCCESS");
    assert.equal(req!.header("Auth-SSL-Subject"), "CN=alice,O=Example");
    assert.equal(req!.header("Auth-SSL-Issuer"), "CN=Test CA");
    // As OpenSSL prints it (every byte, "03E6..." not "3E6..."), which runtimes do not agree on.
    const serial = execFileSync("openssl", ["x509", "-in", world.pki.aliceCert, "-noout", "-serial"]).toString().trim();
    assert.equal(`serial=${req!.header("Auth-SSL-Serial")}`, serial);
    assert.equal(req!.header("Auth-SSL-Fingerprint"), crypto.createHash("sha1").update(alice.raw).digest("hex"));
    const pem = read(world.pki.aliceCert);
    assert.equal(req!.header("Auth-SSL-Cert"), pem.replace(/\n/g, "%0A").replace(/ /g, "%20"));
  });

  test("EXTERNAL authenticates with the verified certificate and the auth request says SUCCESS", async () => {
    const c = await WireClient.connectTls(port.on, as("alice"));
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 CAPABILITY\r\n");
    assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=EXTERNAL", "a1 OK completed"]);
    c.send("a2 AUTHENTICATE EXTERNAL\r\n");
    assert.equal(await c.line(), "+ VXNlcm5hbWU6");
    c.send(`${Buffer.from("alice").toString("base64")}\r\n`);
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    const req = world.auth.requests[world.auth.requests.length - 1];
    assert.equal(req.method, "external");
    assert.equal(req.user, "alice");
    assert.equal(req.pass, "");
    assert.equal(req.header("Auth-SSL-Verify"), "SUCCESS");
    c.close();
  });

  test("ssl_trusted_certificate alone verifies a certificate", async () => {
    const req = await loginHeaders("trusted", as("alice"));
    assert.equal(req!.header("Auth-SSL-Verify"), "SUCCESS");
    assert.equal(req!.header("Auth-SSL-Cert"), undefined);
  });

  test("ssl_verify_client on without a certificate: IMAP, POP3 and SMTP each send their line and close", async () => {
    assert.equal(await refused("on"), "* BYE No required SSL certificate\r\n");
    assert.equal(await refused("pop3"), "-ERR No required SSL certificate\r\n");
    assert.equal(await refused("smtp"), "421 4.7.1 No required SSL certificate\r\n");
  });

  test("ssl_verify_client on with an untrusted certificate: IMAP, POP3 and SMTP send the certificate error line", async () => {
    assert.equal(await refused("on", as("mallory")), "* BYE SSL certificate error\r\n");
    assert.equal(await refused("pop3", as("mallory")), "-ERR SSL certificate error\r\n");
    assert.equal(await refused("smtp", as("mallory")), "421 4.7.1 SSL certificate error\r\n");
  });

  test("after STARTTLS the certificate check runs too: no certificate gets the BYE line instead of a session", async () => {
    const c = await WireClient.connect(port.starttls);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 STARTTLS\r\n");
    assert.equal(await c.line(), "a1 OK completed");
    const s = await c.startTls();
    assert.equal(await s.rest(), "* BYE No required SSL certificate\r\n");
  });

  test("ssl_verify_client optional lets a client without a certificate in, reported as NONE", async () => {
    const req = await loginHeaders("optional");
    assert.equal(req!.header("Auth-SSL-Verify"), "NONE");
    assert.equal(req!.header("Auth-SSL-Subject"), undefined);
  });

  test("ssl_verify_client optional still closes on an untrusted certificate", async () => {
    assert.equal(await refused("optional", as("mallory")), "* BYE SSL certificate error\r\n");
  });

  test("optional_no_ca tolerates a self-signed certificate and reports FAILED with OpenSSL's reason", async () => {
    const req = await loginHeaders("noca", as("mallory"));
    assert.equal(req!.header("Auth-SSL-Verify"), "FAILED:self-signed certificate");
    assert.equal(req!.header("Auth-SSL-Subject"), "CN=mallory");
    assert.equal(req!.header("Auth-SSL-Issuer"), "CN=mallory");
  });

  test("optional_no_ca with a CA-issued certificate but no CA configured reports the unknown issuer", async () => {
    const req = await loginHeaders("noca", as("alice"));
    // OpenSSL's last error for a lone certificate without its issuer, which nginx reports.
    assert.equal(req!.header("Auth-SSL-Verify"), "FAILED:unable to verify the first certificate");
  });

  test("a CN=admin certificate signed by an end-entity certificate of the CA gets the certificate error; the auth service is never asked", async () => {
    const asked = world.auth.requests.length;
    const c = await WireClient.connectTls(port.on, as("forged"));
    assert.equal(await c.rest(), "* BYE SSL certificate error\r\n");
    assert.equal(world.auth.requests.length, asked);
  });

  test("a serverAuth-only certificate of the CA is no client certificate: the certificate error, the auth service never asked", async () => {
    const asked = world.auth.requests.length;
    const c = await WireClient.connectTls(port.on, as("dave"));
    assert.equal(await c.rest(), "* BYE SSL certificate error\r\n");
    assert.equal(world.auth.requests.length, asked);
  });

  test("a CN with a line break, a carriage return and a comma reaches the auth service escaped as RFC 2253 (nginx's form)", async () => {
    assert.equal(NASTY_CN, "eve\nAuth-SSL-Verify: SUCCESS\r, admin");
    const req = await loginHeaders("on", as("nasty"));
    assert.equal(req!.header("Auth-SSL-Verify"), "SUCCESS");
    assert.equal(req!.header("Auth-SSL-Subject"), "CN=eve\\0AAuth-SSL-Verify: SUCCESS\\0D\\, admin,O=Example");
    assert.equal(req!.headers.filter(([n]) => n === "Auth-SSL-Verify").length, 1);
  });

  test("the PROXY v2 header to the backend carries the certificate's CN exactly, in the SSL TLV's CN field", async () => {
    const c = await WireClient.connectTls(port.pp2, as("nasty"));
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    const cnField = "\x22" + "\x00" + String.fromCharCode(NASTY_CN.length) + NASTY_CN;
    const backend = await sinkConnection;
    await backend.waitFor(cnField);
    c.close();
    backend.socket.destroy();
  });

  test("ssl_crl: a revoked certificate is refused, a good one from the same CA is accepted", async () => {
    assert.equal(await refused("crl", as("carol")), "* BYE SSL certificate error\r\n");
    const req = await loginHeaders("crl", as("alice"));
    assert.equal(req!.header("Auth-SSL-Verify"), "SUCCESS");
  });

  test("ssl_verify_depth: one intermediate passes at the default depth 1 and is refused at depth 0", async () => {
    const req = await loginHeaders("on", as("bob"));
    assert.equal(req!.header("Auth-SSL-Verify"), "SUCCESS");
    assert.equal(req!.header("Auth-SSL-Issuer"), "CN=Test Intermediate");
    assert.equal(await refused("depth0", as("bob")), "* BYE SSL certificate error\r\n");
    const direct = await loginHeaders("depth0", as("alice"));
    assert.equal(direct!.header("Auth-SSL-Verify"), "SUCCESS");
  });
});
