/**
 * Implicit TLS and STARTTLS/STLS through a running proxy for IMAP, POP3 and SMTP:
 * capability lists before and after TLS (protocols.md §3.4, §4.4, §5.5), `starttls
 * only` refusals, no new greeting, the Auth-SSL headers, and the command-injection
 * defence (bytes pipelined behind the upgrade command are never executed).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type tls from "node:tls";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { ecCertificate, startTlsWorld, type TlsWorld } from "../../support/tls_world.ts";

const PLAIN_SAM = Buffer.from("\0sam\0secret").toString("base64");

type Mode = "on" | "only" | "ssl";
type Proto = "imap" | "pop3" | "smtp";

describe("STARTTLS and implicit TLS through mailproxy", () => {
  let world: TlsWorld;
  let proxy: RunningProxy;
  const ports = {} as Record<`${Proto}-${Mode}`, number>;

  before(async () => {
    world = await startTlsWorld();
    let servers = "";
    for (const proto of ["imap", "pop3", "smtp"] as Proto[]) {
      for (const mode of ["on", "only", "ssl"] as Mode[]) {
        const port = await freePort();
        ports[`${proto}-${mode}`] = port;
        servers += `server { listen 127.0.0.1:${port}${mode === "ssl" ? " ssl" : ""}; protocol ${proto};` +
          `${mode === "ssl" ? "" : ` starttls ${mode};`} }\n`;
      }
    }
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${world.auth.url};
      timeout 5s;
      ${ecCertificate(world.pki)}
      ${servers}
    }`);
  });

  after(async () => {
    await proxy.stop();
    await world.close();
  });

  async function plain(proto: Proto, mode: Mode, greeting: string): Promise<WireClient> {
    const c = await WireClient.connect(ports[`${proto}-${mode}`]);
    assert.equal(await c.line(), greeting);
    return c;
  }

  async function implicit(proto: Proto, greeting: string): Promise<WireClient> {
    const c = await WireClient.connectTls(ports[`${proto}-ssl`]);
    assert.equal(await c.line(), greeting);
    return c;
  }

  const lastAuth = () => world.auth.requests[world.auth.requests.length - 1];

  /** The auth request carries the TLS facts the client negotiated (cipher choice differs by client library). */
  function assertTlsHeaders(protocol: string, client: WireClient): void {
    const req = lastAuth();
    const secure = client.socket as tls.TLSSocket;
    assert.equal(req.header("Auth-SSL"), "on");
    assert.equal(req.header("Auth-SSL-Protocol"), "TLSv1.3");
    assert.equal(req.header("Auth-SSL-Cipher"), secure.getCipher().name);
    assert.match(req.header("Auth-SSL-Cipher") ?? "", /^TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)$/);
    assert.equal(req.header("Auth-SSL-Verify"), undefined);
    assert.equal(req.protocol, protocol);
  }

  describe("IMAP", () => {
    const GREETING = "* OK IMAP4 ready";
    test("starttls on: CAPABILITY offers STARTTLS before TLS, drops it after, and LOGIN works without a new greeting", async () => {
      const c = await plain("imap", "on", GREETING);
      c.send("a1 CAPABILITY\r\n");
      assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN STARTTLS", "a1 OK completed"]);
      c.send("a2 STARTTLS\r\n");
      assert.equal(await c.line(), "a2 OK completed");
      const s = await c.startTls();
      s.send("a3 CAPABILITY\r\n");
      assert.deepEqual(await s.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", "a3 OK completed"]);
      s.send("a4 STARTTLS\r\n");
      assert.equal(await s.line(), "a4 BAD invalid command");
      s.send("a5 LOGIN alice secret\r\n");
      assert.equal(await s.line(), "a5 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
      assertTlsHeaders("imap", s);
      s.close();
    });

    test("starttls only: LOGINDISABLED and no AUTH= before TLS, LOGIN and AUTHENTICATE refused until then", async () => {
      const c = await plain("imap", "only", GREETING);
      c.send("a1 CAPABILITY\r\n");
      assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS STARTTLS LOGINDISABLED", "a1 OK completed"]);
      c.send("a2 LOGIN alice secret\r\n");
      assert.equal(await c.line(), "a2 BAD invalid command");
      c.send("a3 AUTHENTICATE PLAIN\r\n");
      assert.equal(await c.line(), "a3 BAD invalid command");
      c.send("a4 STARTTLS\r\n");
      assert.equal(await c.line(), "a4 OK completed");
      const s = await c.startTls();
      s.send("a5 CAPABILITY\r\n");
      assert.deepEqual(await s.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", "a5 OK completed"]);
      s.send("a6 LOGIN alice secret\r\n");
      assert.equal(await s.line(), "a6 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
      s.close();
    });

    test("implicit TLS greets over TLS, never offers STARTTLS and rejects it", async () => {
      const s = await implicit("imap", GREETING);
      s.send("a1 CAPABILITY\r\na2 STARTTLS\r\n");
      assert.deepEqual(await s.lines(3), [
        "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN",
        "a1 OK completed",
        "a2 BAD invalid command",
      ]);
      s.send("a3 LOGIN alice secret\r\n");
      assert.equal(await s.line(), "a3 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
      assertTlsHeaders("imap", s);
      s.close();
    });

    test("a LOGIN pipelined behind STARTTLS is discarded, never executed after the handshake", async () => {
      const requests = world.auth.requests.length;
      const sessions = world.imap.transcripts.length;
      const c = await plain("imap", "on", GREETING);
      c.send("a1 STARTTLS\r\nb1 LOGIN alice secret\r\n");
      assert.equal(await c.line(), "a1 OK completed");
      const s = await c.startTls();
      s.send("c1 CAPABILITY\r\n");
      assert.deepEqual(await s.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", "c1 OK completed"]);
      assert.equal(world.auth.requests.length, requests);
      assert.equal(world.imap.transcripts.length, sessions);
      s.close();
    });
  });

  describe("POP3", () => {
    const GREETING = "+OK POP3 ready";
    const L = ["TOP", "USER", "UIDL"];
    test("starttls on: CAPA lists STLS before TLS, not after, and USER/PASS works without a new greeting", async () => {
      const c = await plain("pop3", "on", GREETING);
      c.send("CAPA\r\n");
      assert.deepEqual(await c.lines(7), ["+OK Capability list follows", ...L, "SASL PLAIN LOGIN", "STLS", "."]);
      c.send("STLS\r\n");
      assert.equal(await c.line(), "+OK");
      const s = await c.startTls();
      s.send("CAPA\r\n");
      assert.deepEqual(await s.lines(6), ["+OK Capability list follows", ...L, "SASL PLAIN LOGIN", "."]);
      s.send("STLS\r\n");
      assert.equal(await s.line(), "-ERR invalid command");
      s.send("USER pat\r\nPASS secret\r\n");
      assert.deepEqual(await s.lines(2), ["+OK", "+OK backend logged in"]);
      assertTlsHeaders("pop3", s);
      s.close();
    });

    test("starttls only: CAPA hides USER and SASL, USER, APOP and AUTH are refused before TLS", async () => {
      const c = await plain("pop3", "only", GREETING);
      c.send("CAPA\r\n");
      assert.deepEqual(await c.lines(5), ["+OK Capability list follows", "TOP", "UIDL", "STLS", "."]);
      c.send("USER pat\r\n");
      assert.equal(await c.line(), "-ERR invalid command");
      c.send("AUTH\r\n");
      assert.equal(await c.line(), "-ERR invalid command");
      c.send("AUTH PLAIN\r\n");
      assert.equal(await c.line(), "-ERR invalid command");
      c.send("STLS\r\n");
      assert.equal(await c.line(), "+OK");
      const s = await c.startTls();
      s.send("CAPA\r\n");
      assert.deepEqual(await s.lines(6), ["+OK Capability list follows", ...L, "SASL PLAIN LOGIN", "."]);
      s.send("USER pat\r\nPASS secret\r\n");
      assert.deepEqual(await s.lines(2), ["+OK", "+OK backend logged in"]);
      s.close();
    });

    test("implicit TLS greets over TLS, never offers STLS and rejects it", async () => {
      const s = await implicit("pop3", GREETING);
      s.send("CAPA\r\nSTLS\r\n");
      assert.deepEqual(await s.lines(7), ["+OK Capability list follows", ...L, "SASL PLAIN LOGIN", ".", "-ERR invalid command"]);
      s.close();
    });

    test("USER and PASS pipelined behind STLS are discarded, never executed after the handshake", async () => {
      const requests = world.auth.requests.length;
      const sessions = world.pop3.connections.length;
      const c = await plain("pop3", "on", GREETING);
      c.send("STLS\r\nUSER pat\r\nPASS secret\r\n");
      assert.equal(await c.line(), "+OK");
      const s = await c.startTls();
      s.send("CAPA\r\n");
      assert.deepEqual(await s.lines(6), ["+OK Capability list follows", ...L, "SASL PLAIN LOGIN", "."]);
      s.send("PASS secret\r\n");
      assert.equal(await s.line(), "-ERR invalid command");
      assert.equal(world.auth.requests.length, requests);
      assert.equal(world.pop3.connections.length, sessions);
      s.close();
    });
  });

  describe("SMTP", () => {
    const GREETING = "220 mx.example.com ESMTP ready";
    test("starttls on: EHLO offers STARTTLS before TLS, not after, and AUTH works without a new greeting", async () => {
      const c = await plain("smtp", "on", GREETING);
      c.send("EHLO client.example\r\n");
      assert.deepEqual(await c.lines(3), ["250-mx.example.com", "250-AUTH PLAIN LOGIN", "250 STARTTLS"]);
      c.send("STARTTLS\r\n");
      assert.equal(await c.line(), "220 2.0.0 Start TLS");
      const s = await c.startTls();
      s.send("EHLO client.example\r\n");
      assert.deepEqual(await s.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
      s.send("STARTTLS\r\n");
      assert.equal(await s.line(), "500 5.5.1 Invalid command");
      s.send(`AUTH PLAIN ${PLAIN_SAM}\r\n`);
      assert.equal(await s.line(), "235 2.0.0 OK");
      assertTlsHeaders("smtp", s);
      s.close();
    });

    test("starttls only: EHLO has no AUTH line before TLS and AUTH is refused until then", async () => {
      const c = await plain("smtp", "only", GREETING);
      c.send("EHLO client.example\r\n");
      assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 STARTTLS"]);
      c.send(`AUTH PLAIN ${PLAIN_SAM}\r\n`);
      assert.equal(await c.line(), "500 5.5.1 Invalid command");
      c.send("STARTTLS\r\n");
      assert.equal(await c.line(), "220 2.0.0 Start TLS");
      const s = await c.startTls();
      s.send("EHLO client.example\r\n");
      assert.deepEqual(await s.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
      s.send(`AUTH PLAIN ${PLAIN_SAM}\r\n`);
      assert.equal(await s.line(), "235 2.0.0 OK");
      s.close();
    });

    test("implicit TLS greets over TLS, never offers STARTTLS and rejects it", async () => {
      const s = await implicit("smtp", GREETING);
      s.send("EHLO client.example\r\nSTARTTLS\r\n");
      assert.deepEqual(await s.lines(3), ["250-mx.example.com", "250 AUTH PLAIN LOGIN", "500 5.5.1 Invalid command"]);
      s.close();
    });

    test("an AUTH pipelined behind STARTTLS is discarded, never executed after the handshake", async () => {
      const requests = world.auth.requests.length;
      const sessions = world.smtp.connections.length;
      const c = await plain("smtp", "on", GREETING);
      c.send("EHLO client.example\r\n");
      assert.deepEqual(await c.lines(3), ["250-mx.example.com", "250-AUTH PLAIN LOGIN", "250 STARTTLS"]);
      c.send(`STARTTLS\r\nAUTH PLAIN ${PLAIN_SAM}\r\n`);
      assert.equal(await c.line(), "220 2.0.0 Start TLS");
      const s = await c.startTls();
      s.send("EHLO again.example\r\n");
      assert.deepEqual(await s.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
      assert.equal(world.auth.requests.length, requests);
      assert.equal(world.smtp.connections.length, sessions);
      s.close();
    });
  });
});
