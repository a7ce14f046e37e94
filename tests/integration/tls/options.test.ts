/**
 * The ssl_* directives seen from a real TLS client (openssl s_client, the same on both
 * runtimes): protocol versions, ALPN, several certificates, encrypted keys, ciphers,
 * curves, session resumption, ssl_conf_command, and `checkTlsConfig` naming the runtime
 * wherever the runtime would otherwise ignore a setting.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { freePort } from "../../support/ports.ts";
import { loadConfigText, effectiveServers } from "../../../src/config/load.ts";
import { checkTlsConfig, tlsConfigWarnings } from "../../../src/tls/context.ts";
import { ConfigError } from "../../../src/config/errors.ts";
import { checkUpstreamTlsConfig } from "../../../src/upstream/tls_out.ts";
import { tlsRuntime } from "../../../src/runtime.ts";
import { makeTestPki, type TestPki } from "../../support/pki.ts";
import { OpensslClient, opensslOnce } from "../../support/openssl_client.ts";

const runtime = tlsRuntime();

/** The effective servers of a mail block, for checkTlsConfig. */
function serversOf(mail: string) {
  return effectiveServers(loadConfigText(`mail { ${mail} }`, "/etc/mailproxy/test.conf").config);
}

/** The one TLS server of `body`. */
function tlsServer(pki: TestPki, body: string) {
  return serversOf(`auth_http 127.0.0.1:9; server { listen 127.0.0.1:1993 ssl; protocol imap;
    ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.ecKey}; ${body} }`)[0]!;
}

const withoutPlace = (messages: string[]) => messages.map((p) => p.replace(/ in \/etc\/mailproxy\/test\.conf:\d+$/, ""));

/** Problems of the one server of `body`, without their place (each a ConfigError at the server's). */
const problems = (pki: TestPki, body: string) =>
  checkTlsConfig(tlsServer(pki, body)).map((p) => {
    assert.equal(p.message, `${p.reason} in /etc/mailproxy/test.conf:1`);
    return p.reason;
  });

/** Warnings of the one server of `body`, with the place stripped. */
const warnings = (pki: TestPki, body: string) => withoutPlace(tlsConfigWarnings(tlsServer(pki, body)));

const negotiated = (output: string) => output.match(/^(New|Reused), (\S+), Cipher is (\S+)$/m)?.slice(1) ?? ["none"];

describe("TLS settings through mailproxy", () => {
  let pki: TestPki;
  let proxy: RunningProxy;
  const port: Record<string, number> = {};

  before(async () => {
    pki = makeTestPki();
    const ec = `ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.ecKey};`;
    const servers: Record<string, string> = {
      plain: `${ec} ssl_session_cache builtin:1000; ssl_session_ticket_key ${pki.ticketKey80}; ssl_session_ticket_key ${pki.ticketKey48};`,
      pop3: `${ec}`,
      tls12: `${ec} ssl_protocols TLSv1.2;`,
      pair: `ssl_certificate ${pki.rsaCert}; ssl_certificate_key ${pki.rsaKey}; ${ec}`,
      encrypted: `ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.encryptedKey}; ssl_password_file ${pki.passwordFile};`,
      conf: `${ec} ssl_conf_command MinProtocol TLSv1.3;`,
      confpair: `${ec} ssl_conf_command Certificate ${pki.rsaCert}; ssl_conf_command PrivateKey ${pki.rsaKey};`,
      ...(runtime.disableTickets ? { confnotickets: `${ec} ssl_conf_command Options -SessionTicket;` } : {}),
      ...(runtime.cipherList ? {
        ciphers: `${ec} ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;`,
        prefer: `${ec} ssl_prefer_server_ciphers on; ssl_ciphers ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256;`,
        curve: `${ec} ssl_ecdh_curve secp384r1;`,
        notickets: `${ec} ssl_session_tickets off;`,
      } : {}),
    };
    let text = "";
    for (const [name, body] of Object.entries(servers)) {
      port[name] = await freePort();
      text += `server { listen 127.0.0.1:${port[name]} ssl; protocol ${name === "pop3" ? "pop3" : "imap"}; ${body} }\n`;
    }
    proxy = await startProxy(`mail { auth_http 127.0.0.1:9; timeout 5s; ${text} }`);
  });

  after(async () => {
    await proxy.stop();
    pki.remove();
  });

  test("default ssl_protocols accept TLSv1.2 and TLSv1.3 and refuse a TLSv1.1-only client", async () => {
    assert.deepEqual(negotiated((await opensslOnce(port.plain, ["-tls1_3"])).output).slice(0, 2), ["New", "TLSv1.3"]);
    assert.deepEqual(negotiated((await opensslOnce(port.plain, ["-tls1_2"])).output).slice(0, 2), ["New", "TLSv1.2"]);
    const old = await opensslOnce(port.plain, ["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"]);
    assert.deepEqual(negotiated(old.output), ["New", "(NONE)", "(NONE)"]);
    assert.match(old.output, /alert (protocol version|handshake failure)/);
  });

  test("ssl_protocols TLSv1.2 refuses a TLSv1.3-only client", async () => {
    assert.deepEqual(negotiated((await opensslOnce(port.tls12, [])).output).slice(0, 2), ["New", "TLSv1.2"]);
    const r = await opensslOnce(port.tls12, ["-tls1_3"]);
    assert.deepEqual(negotiated(r.output), ["New", "(NONE)", "(NONE)"]);
  });

  test("ALPN: the server offers only its protocol id and a client offering only another id gets no_application_protocol", async () => {
    assert.match((await opensslOnce(port.plain, ["-alpn", "imap"])).output, /^ALPN protocol: imap$/m);
    assert.match((await opensslOnce(port.pop3, ["-alpn", "imap,pop3"])).output, /^ALPN protocol: pop3$/m);
    const wrong = await opensslOnce(port.plain, ["-alpn", "pop3"]);
    assert.match(wrong.output, /alert no application protocol/);
    assert.match((await opensslOnce(port.plain, [])).output, /^No ALPN negotiated$/m);
  });

  test("the greeting arrives over implicit TLS", async () => {
    // waits for the greeting itself: a fixed wait before EOF loses it on a loaded machine
    const client = OpensslClient.start(port.plain, ["-quiet"]);
    try {
      await client.waitFor(/^\* OK IMAP4 ready\r?$/m);
    } finally {
      await client.close();
    }
  });

  test("several certificate pairs: a client limited to ECDSA gets the ECDSA certificate where the runtime can choose", async () => {
    const rsa = await opensslOnce(port.pair, ["-sigalgs", "RSA-PSS+SHA256:RSA+SHA256"]);
    assert.match(rsa.output, /^subject=CN = rsa\.localhost$/m);
    const ecdsa = await opensslOnce(port.pair, ["-sigalgs", "ECDSA+SHA256"]);
    const pairProblem = problems(pki, `ssl_certificate ${pki.rsaCert}; ssl_certificate_key ${pki.rsaKey};`);
    if (runtime.multipleCertificates) {
      assert.match(ecdsa.output, /^subject=CN = ec\.localhost$/m);
      assert.deepEqual(pairProblem, []);
    } else {
      // rustls serves only the first (RSA) pair: an ECDSA-only client gets a handshake failure.
      assert.match(ecdsa.output, /alert handshake failure/);
      assert.doesNotMatch(ecdsa.output, /^subject=/m);
      assert.deepEqual(pairProblem, [
        `several "ssl_certificate" pairs is not supported on ${runtime.name} (its node:tls runs on ${runtime.library}, which always uses the first one)`,
      ]);
    }
  });

  test("ssl_password_file opens an encrypted key with the first passphrase that works", async () => {
    assert.match((await opensslOnce(port.encrypted, [])).output, /^\* OK IMAP4 ready\r?$/m);
    const wrong = `${pki.dir}/wrong-passwords`;
    await import("node:fs").then((fs) => fs.writeFileSync(wrong, "nope\n"));
    assert.deepEqual(problems(pki, `ssl_certificate_key ${pki.encryptedKey}; ssl_password_file ${wrong};`).slice(0, 1), [
      `cannot load certificate key "${pki.encryptedKey}": no passphrase in ssl_password_file opens it`,
    ]);
  });

  test("session resumption works with tickets: a second connection with the saved session is Reused (TLSv1.3 and TLSv1.2)", async () => {
    for (const version of ["-tls1_3", "-tls1_2"]) {
      const file = `${pki.dir}/session${version}`;
      const first = await opensslOnce(port.plain, [version, "-sess_out", file]);
      assert.equal(negotiated(first.output)[0], "New");
      const second = await opensslOnce(port.plain, [version, "-sess_in", file]);
      assert.equal(negotiated(second.output)[0], "Reused", second.output);
    }
  });

  test("ssl_session_ticket_key files must be 48 or 80 bytes; valid ones are accepted with a warning about their use", () => {
    assert.deepEqual(problems(pki, `ssl_session_ticket_key ${pki.ticketKeyBad};`), [
      `"${pki.ticketKeyBad}" ssl_session_ticket_key file must be 48 or 80 bytes, not 32`,
    ]);
    assert.deepEqual(problems(pki, `ssl_session_ticket_key ${pki.ticketKey48}; ssl_session_ticket_key ${pki.ticketKey80};`), []);
    const [server] = serversOf(`auth_http 127.0.0.1:9; server { listen 127.0.0.1:1993 ssl; protocol imap;
      ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.ecKey}; ssl_session_ticket_key ${pki.ticketKey48}; }`);
    assert.match(tlsConfigWarnings(server)[0], new RegExp(`^"ssl_session_ticket_key" files are checked but not used on ${runtime.name}`));
  });

  test("ssl_ciphers, ssl_prefer_server_ciphers and ssl_ecdh_curve apply, or the config check names the runtime that ignores them", async () => {
    if (runtime.cipherList) {
      assert.deepEqual(negotiated((await opensslOnce(port.ciphers, ["-tls1_2"])).output), ["New", "TLSv1.2", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
      const clientOrder = ["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305"];
      assert.deepEqual(negotiated((await opensslOnce(port.prefer, clientOrder)).output), ["New", "TLSv1.2", "ECDHE-ECDSA-CHACHA20-POLY1305"]);
      assert.equal(negotiated((await opensslOnce(port.curve, ["-groups", "P-256"])).output)[2], "(NONE)");
      assert.equal(negotiated((await opensslOnce(port.curve, ["-groups", "P-384"])).output)[1], "TLSv1.3");
      assert.deepEqual(problems(pki, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256; ssl_prefer_server_ciphers on; ssl_ecdh_curve secp384r1;"), []);
    } else {
      assert.deepEqual(problems(pki, "ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256; ssl_prefer_server_ciphers on; ssl_ecdh_curve secp384r1;"), [
        `"ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256" is not supported on Deno (its node:tls runs on rustls, which ignores cipher lists)`,
        `"ssl_prefer_server_ciphers on" is not supported on Deno (its node:tls runs on rustls, which ignores the server's cipher preference)`,
        `"ssl_ecdh_curve secp384r1" is not supported on Deno (its node:tls runs on rustls, which ignores the curve list)`,
      ]);
    }
  });

  test("ssl_session_tickets off stops resumption where the runtime can, else the config check says so", async () => {
    if (runtime.disableTickets) {
      const file = `${pki.dir}/session-notickets`;
      await opensslOnce(port.notickets, ["-tls1_2", "-sess_out", file]);
      const second = await opensslOnce(port.notickets, ["-tls1_2", "-sess_in", file]);
      assert.equal(negotiated(second.output)[0], "New");
      assert.deepEqual(problems(pki, "ssl_session_tickets off;"), []);
    } else {
      assert.deepEqual(problems(pki, "ssl_session_tickets off;"), [
        `"ssl_session_tickets off" is not supported on ${runtime.name} (its node:tls runs on ${runtime.library}, which always issues session tickets)`,
      ]);
    }
  });

  test("ssl_dhparam is a warning, not a refusal: neither BoringSSL (Bun) nor rustls (Deno) offers DHE suites, so nothing is lost", () => {
    assert.deepEqual(problems(pki, `ssl_dhparam ${pki.dhparam};`), []);
    assert.deepEqual(warnings(pki, `ssl_dhparam ${pki.dhparam};`), [
      `"ssl_dhparam" is not supported on ${runtime.name} (its node:tls runs on ${runtime.library}, which has no DHE cipher suites), ignored`,
    ]);
  });

  test("ssl_protocols naming versions the runtime lacks is a warning while one it has remains; none left is a refusal", () => {
    const lacking = runtime.legacyProtocols ? "SSLv3" : "SSLv3 TLSv1 TLSv1.1";
    const unsupported = `"ssl_protocols ${lacking}" is not supported on ${runtime.name} (its node:tls runs on ${runtime.library}, `;
    assert.deepEqual(problems(pki, "ssl_protocols SSLv3 TLSv1 TLSv1.1 TLSv1.2;"), []);
    assert.deepEqual(warnings(pki, "ssl_protocols SSLv3 TLSv1 TLSv1.1 TLSv1.2;"), [`${unsupported}which has no such protocol versions), ignored`]);
    assert.deepEqual(problems(pki, `ssl_protocols ${lacking};`), [`${unsupported}which has none of these protocol versions)`]);
  });

  test("ssl_conf_command: MinProtocol applies (TLSv1.2 refused), an inexpressible command is a config error naming the runtime", async () => {
    assert.equal(negotiated((await opensslOnce(port.conf, ["-tls1_2"])).output)[1], "(NONE)");
    assert.equal(negotiated((await opensslOnce(port.conf, ["-tls1_3"])).output)[1], "TLSv1.3");
    const [problem] = problems(pki, "ssl_conf_command Options PrioritizeChaCha;");
    assert.match(problem, new RegExp(`^"ssl_conf_command Options PrioritizeChaCha" is not supported on ${runtime.name}: ` +
      `node:tls on ${runtime.library} can express only MinProtocol, MaxProtocol`));
  });

  test("ssl_conf_command Certificate and PrivateKey replace the certificate pair, as in OpenSSL", async () => {
    assert.match((await opensslOnce(port.confpair, [])).output, /^subject=CN = rsa\.localhost$/m);
    assert.deepEqual(problems(pki, `ssl_conf_command Certificate ${pki.rsaCert}; ssl_conf_command PrivateKey ${pki.rsaKey};`), []);
    assert.deepEqual(problems(pki, `ssl_conf_command Certificate ${pki.dir}/missing.pem;`), [
      `cannot load certificate "${pki.dir}/missing.pem": no such file`,
    ]);
  });

  test("ssl_conf_command Options -SessionTicket turns tickets off where the runtime can, else the config check says so", async () => {
    if (runtime.disableTickets) {
      const file = `${pki.dir}/session-conf-notickets`;
      await opensslOnce(port.confnotickets, ["-tls1_2", "-sess_out", file]);
      const second = await opensslOnce(port.confnotickets, ["-tls1_2", "-sess_in", file]);
      assert.equal(negotiated(second.output)[0], "New");
      assert.deepEqual(problems(pki, "ssl_conf_command Options -SessionTicket;"), []);
    } else {
      assert.match(problems(pki, "ssl_conf_command Options -SessionTicket;")[0], new RegExp(
        `^"ssl_conf_command Options -SessionTicket" is not supported on ${runtime.name}: node:tls on ${runtime.library} can express only `,
      ));
    }
    assert.deepEqual(problems(pki, "ssl_conf_command Options SessionTicket;"), []);
  });

  test("ssl_verify_client on needs ssl_client_certificate or ssl_trusted_certificate; optional_no_ca does not", () => {
    assert.deepEqual(problems(pki, "ssl_verify_client on;"), ["no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client"]);
    assert.deepEqual(problems(pki, "ssl_verify_client optional_no_ca;"), []);
    assert.deepEqual(problems(pki, `ssl_verify_client on; ssl_crl ${pki.caFile}; ssl_trusted_certificate ${pki.caFile};`), []);
  });

  test("a missing certificate file is named in the config check", () => {
    assert.deepEqual(problems(pki, `ssl_client_certificate ${pki.dir}/missing.pem; ssl_verify_client on;`), [
      `cannot load certificate "${pki.dir}/missing.pem": no such file`,
    ]);
  });

  test("each TLS problem is a ConfigError with a stable code; a key that is not its certificate's is refused as nginx does", async () => {
    const codes = (body: string) => checkTlsConfig(tlsServer(pki, body)).map((p) => [p.name, p.code]);
    assert.deepEqual(codes(`ssl_client_certificate ${pki.dir}/missing.pem; ssl_verify_client on;`), [["ConfigError", "tls_file"]]);
    assert.deepEqual(codes("ssl_verify_client on;"), [["ConfigError", "tls_no_client_ca"]]);
    const upstream = checkUpstreamTlsConfig(tlsServer(pki, `proxy_ssl_certificate_key ${pki.rsaKey};`));
    assert.deepEqual(upstream.map((p) => [p.name, p.code]), [["ConfigError", "no_certificate"]]);
    if (!runtime.cipherList) assert.deepEqual(codes("ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;"), [["ConfigError", "tls_unsupported"]]);
    // a key that is not the certificate's: only the TLS library finds out, when the server starts
    const refused = await startProxy(`mail { auth_http 127.0.0.1:9; server { listen 127.0.0.1:${await freePort()} ssl; protocol imap;
      ssl_certificate ${pki.ecCert}; ssl_certificate_key ${pki.rsaKey}; } }`).then(
      async (p) => void await p.stop(),
      (err: ConfigError) => err,
    );
    assert.ok(refused instanceof ConfigError, "the server started with a key that is not its certificate's");
    assert.equal(refused.code, "tls_file");
    assert.equal(refused.reason, `SSL_CTX_use_PrivateKey("${pki.rsaKey}") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)`);
    assert.match(refused.message, / in \S+mailproxy\.conf:2$/);
  });
});
