/**
 * STARTTLS followed by a bogus TLS record and a close (issue 13, item 7), against
 * mailproxy as a child process so that an uncaught exception shows as the
 * `[alert]` it logs: each session ends with an ordinary log line, nothing is
 * left uncaught, and the process goes on serving.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, startAuthServer } from "../../support/auth_server.ts";
import { type ChildProxy, startChildProxy } from "../../support/child_proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { makeTestCertificate, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";

const CONNECTIONS = 40;
/** What the client sends instead of a ClientHello: a handshake record header announcing 5 bytes and no hello, or plain text. */
const GARBAGE = [
  Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]), Buffer.from("hello\r\n")]),
  Buffer.from("GARBAGE GARBAGE GARBAGE\r\n"),
];

const upgrades = [
  { protocol: "imap", greeting: "* OK IMAP4 ready", command: "s STARTTLS\r\n", answer: "s OK completed" },
  { protocol: "pop3", greeting: "+OK POP3 ready", command: "STLS\r\n", answer: "+OK" },
  { protocol: "smtp", greeting: "220 mx.example.com ESMTP ready", command: "STARTTLS\r\n", answer: "220 2.0.0 Start TLS" },
] as const;

/** Upgrade, send `garbage` and drop the connection at once. */
async function brokenStarttls(port: number, greeting: string, command: string, answer: string, garbage: Buffer): Promise<void> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), greeting);
  c.send(command);
  assert.equal(await c.line(), answer);
  c.send(garbage);
  c.close();
}

describe("a broken handshake after STARTTLS", () => {
  let auth: AuthServer;
  let proxy: ChildProxy;
  let cert: TestCertificate;
  const ports = { imap: 0, pop3: 0, smtp: 0 };

  before(async () => {
    cert = makeTestCertificate();
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login" } }));
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    const tlsFiles = `starttls on; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};`;
    proxy = await startChildProxy(
      `daemon off;
      error_log %LOG% info;
      mail {
        server_name mx.example.com;
        auth_http ${auth.url};
        server { listen 127.0.0.1:${ports.imap}; protocol imap; ${tlsFiles} }
        server { listen 127.0.0.1:${ports.pop3}; protocol pop3; ${tlsFiles} }
        server { listen 127.0.0.1:${ports.smtp}; protocol smtp; ${tlsFiles} }
      }`,
      ports.imap,
    );
  });

  after(async () => {
    await proxy.cleanup();
    await auth.close();
    cert.remove();
  });

  for (const { protocol, greeting, command, answer } of upgrades) {
    test(`${protocol.toUpperCase()}: ${CONNECTIONS} upgrades answered with garbage and a close end quietly, and the next client is served`, async () => {
      const failedBefore = proxy.log().split("TLS handshake failed").length - 1;
      await Promise.all(Array.from({ length: CONNECTIONS }, (_, i) => brokenStarttls(ports[protocol], greeting, command, answer, GARBAGE[i % 2]!)));
      await proxy.waitForLog("TLS handshake failed", failedBefore + CONNECTIONS);
      // the same process greets the next client
      const next = await WireClient.connect(ports[protocol]);
      assert.equal(await next.line(), greeting);
      next.close();
      const log = proxy.log();
      assert.doesNotMatch(log, /\[alert\]|uncaught|unhandled/, log);
      assert.equal(proxy.child.exitCode, null, "the proxy is still running");
    });
  }
});
