/**
 * Real TLS clients through mailproxy, verifying the proxy's certificate against the test
 * CA: curl --ssl-reqd (STARTTLS) and imaps://, Python's IMAP4_SSL and IMAP4.starttls(),
 * and `openssl s_client -starttls imap|pop3|smtp`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { freePort } from "../../support/ports.ts";
import { curl, pythonImapFetch } from "../../support/mail_clients.ts";
import { ecCertificate, MESSAGE, startTlsWorld, type TlsWorld } from "../../support/tls_world.ts";
import { OpensslClient } from "../../support/openssl_client.ts";

describe("real TLS clients through mailproxy", () => {
  let world: TlsWorld;
  let proxy: RunningProxy;
  const port = { imap: 0, imaps: 0, pop3: 0, smtp: 0 };

  before(async () => {
    world = await startTlsWorld();
    for (const k of Object.keys(port) as Array<keyof typeof port>) port[k] = await freePort();
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${world.auth.url};
      timeout 10s;
      ${ecCertificate(world.pki)}
      server { listen 127.0.0.1:${port.imap}; protocol imap; starttls only; }
      server { listen 127.0.0.1:${port.imaps} ssl; protocol imap; }
      server { listen 127.0.0.1:${port.pop3}; protocol pop3; starttls on; }
      server { listen 127.0.0.1:${port.smtp}; protocol smtp; starttls on; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await world.close();
  });

  const lastAuth = () => world.auth.requests[world.auth.requests.length - 1];
  const verified = ["--cacert", () => world.pki.caFile] as const;

  test("curl --ssl-reqd fetches a message over IMAP STARTTLS (starttls only) with the certificate verified", async () => {
    const r = await curl(["-sS", "--ssl-reqd", verified[0], verified[1](), `imap://127.0.0.1:${port.imap}/INBOX;UID=1`, "-u", "alice:secret"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, MESSAGE);
    assert.equal(lastAuth().header("Auth-SSL"), "on");
  });

  test("curl fetches a message over imaps:// (implicit TLS)", async () => {
    const r = await curl(["-sS", verified[0], verified[1](), `imaps://127.0.0.1:${port.imaps}/INBOX;UID=1`, "-u", "alice:secret"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, MESSAGE);
  });

  test("Python IMAP4_SSL logs in and fetches a message", async () => {
    const r = await pythonImapFetch({ host: "127.0.0.1", port: port.imaps, user: "alice", password: "secret", ssl: true, cafile: world.pki.caFile });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, MESSAGE);
  });

  test("Python IMAP4.starttls() upgrades, logs in and fetches a message", async () => {
    const r = await pythonImapFetch({ host: "127.0.0.1", port: port.imap, user: "alice", password: "secret", starttls: true, cafile: world.pki.caFile });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, MESSAGE);
  });

  test("openssl s_client -starttls imap verifies the certificate and logs in over TLS", async () => {
    const c = OpensslClient.start(port.imap, ["-starttls", "imap", "-CAfile", world.pki.caFile, "-verify_return_error"]);
    await c.waitFor(/Verify return code: 0 \(ok\)/);
    c.send("a1 LOGIN alice secret\r\n");
    await c.waitFor(/^a1 OK \[CAPABILITY IMAP4rev1 LITERAL\+ IDLE\] Logged in\r$/m);
    await c.close();
  });

  test("openssl s_client -starttls pop3 logs in over TLS", async () => {
    const c = OpensslClient.start(port.pop3, ["-starttls", "pop3", "-CAfile", world.pki.caFile, "-verify_return_error"]);
    await c.waitFor(/Verify return code: 0 \(ok\)/);
    c.send("USER pat\r\nPASS secret\r\n");
    // s_client echoes a few stale bytes of its STLS read buffer first ("+OK P"), so no ^ anchor.
    await c.waitFor(/\+OK\r\n\+OK backend logged in\r$/m);
    await c.close();
  });

  test("openssl s_client -starttls smtp sees the post-TLS EHLO without STARTTLS and authenticates", async () => {
    const c = OpensslClient.start(port.smtp, ["-starttls", "smtp", "-CAfile", world.pki.caFile, "-verify_return_error"]);
    await c.waitFor(/Verify return code: 0 \(ok\)/);
    c.send(`EHLO client.example\r\nAUTH PLAIN ${Buffer.from("\0sam\0secret").toString("base64")}\r\n`);
    await c.waitFor(/^235 2\.0\.0 OK\r$/m);
    // s_client replays the tail of the plaintext EHLO reply ("250 STARTTLS") after its report;
    // the reply to the EHLO sent over TLS follows, without STARTTLS.
    assert.match(c.output, /^250-mx\.example\.com\r\n250 AUTH PLAIN LOGIN\r\n235 2\.0\.0 OK\r$/m);
    await c.close();
  });
});
