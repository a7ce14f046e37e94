/**
 * Broken TLS clients: plaintext on an implicit-TLS port, a failed handshake and a client
 * that stalls mid-handshake are logged and closed silently (the stall at `timeout`),
 * while a normal session on the same proxy logs in undisturbed.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { ecCertificate, startTlsWorld, type TlsWorld } from "../../support/tls_world.ts";

/** The first bytes of a TLS record carrying a ClientHello, then nothing. */
const PARTIAL_CLIENT_HELLO = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

describe("TLS failures through mailproxy", () => {
  let world: TlsWorld;
  let proxy: RunningProxy;
  let port: number;
  let startTlsPort: number;

  before(async () => {
    world = await startTlsWorld();
    port = await freePort();
    startTlsPort = await freePort();
    proxy = await startProxy(`mail {
      auth_http ${world.auth.url};
      timeout 2s;
      ${ecCertificate(world.pki)}
      server { listen 127.0.0.1:${port} ssl; protocol imap; }
      server { listen 127.0.0.1:${startTlsPort}; protocol imap; starttls on; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await world.close();
  });

  const handshakeFailures = () => proxy.log().split("\n").filter((l) => l.includes("TLS handshake failed")).length;

  async function normalLogin(): Promise<void> {
    const c = await WireClient.connectTls(port);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  }

  test("plaintext sent to an implicit-TLS port gets no protocol reply (at most a fatal TLS alert), is closed and logged", async () => {
    const before = handshakeFailures();
    const c = await WireClient.connect(port);
    c.send("a1 LOGIN alice secret\r\n");
    // BoringSSL (Bun) answers protocol_version, rustls (Deno) decode_error: one fatal alert record.
    assert.match(await c.rest(), /^(\x15\x03[\x01-\x03]\x00\x02\x02[\x00-\xff])?$/);
    assert.equal(world.auth.requests.length, 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handshakeFailures(), before + 1);
    await normalLogin();
  });

  test("a client stalling mid-handshake is closed at timeout while another session logs in", async () => {
    const before = handshakeFailures();
    const stalled = await WireClient.connect(port);
    stalled.send(PARTIAL_CLIENT_HELLO);
    await normalLogin();
    assert.equal(stalled.ended, false);
    assert.equal(await stalled.rest(10_000), "");
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(handshakeFailures(), before + 1);
  });

  test("a client stalling after STARTTLS is closed at timeout", async () => {
    const c = await WireClient.connect(startTlsPort);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 STARTTLS\r\n");
    assert.equal(await c.line(), "a1 OK completed");
    c.send(PARTIAL_CLIENT_HELLO);
    await normalLogin();
    assert.equal(await c.rest(10_000), "");
  });

  test("a failed handshake (ALPN mismatch) is refused and logged; the next session is fine", async () => {
    const before = handshakeFailures();
    await assert.rejects(WireClient.connectTls(port, { ALPNProtocols: ["pop3"] }));
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(handshakeFailures(), before + 1);
    await normalLogin();
  });
});
