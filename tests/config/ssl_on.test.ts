/**
 * The deprecated `ssl on;` (nginx 1.15.0 to 1.25.0, still in many production configs and
 * in nginx's own admin guide) loads as nginx 1.22 loads it: with its deprecation warning,
 * meaning `listen ... ssl` for every listen of the server, and with its conflicts.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { effectiveServers } from "../../src/config/load.ts";
import { errorOf, load, warningsOf } from "../support/config.ts";

const CERT = "ssl_certificate cert.pem; ssl_certificate_key key.pem;";
const DEPRECATED = 'the "ssl" directive is deprecated, use the "listen ... ssl" directive instead';

describe("ssl on", () => {
  test("is accepted with nginx's deprecation warning at its line", () => {
    const text = `mail {\n  auth_http 127.0.0.1:9000;\n  server {\n    listen 993;\n    ssl on;\n    ${CERT}\n  }\n}\n`;
    assert.deepEqual(warningsOf(text), [`${DEPRECATED} in /cfg/m.conf:5`]);
  });

  test("makes every listen of its server a listen ... ssl", () => {
    const text = `mail { auth_http 127.0.0.1:9000; server { listen 127.0.0.1:993; listen 127.0.0.1:1993; protocol imap; ssl on; ${CERT} } ` +
      `server { listen 127.0.0.1:143; } }`;
    const [tls, plain] = effectiveServers(load(text).config);
    assert.deepEqual(tls!.listen.map((l) => l.ssl), [true, true]);
    assert.deepEqual(plain!.listen.map((l) => l.ssl), [false]);
  });

  test("in the mail block it applies to every server", () => {
    const text = `mail { auth_http 127.0.0.1:9000; ssl on; ${CERT} server { listen 993; } server { listen 995; } }`;
    assert.deepEqual(effectiveServers(load(text).config).flatMap((s) => s.listen.map((l) => l.ssl)), [true, true]);
  });

  test("ssl off is accepted with the same warning and changes nothing", () => {
    const text = "mail { auth_http 127.0.0.1:9000; ssl off; server { listen 143; } }";
    assert.deepEqual(warningsOf(text), [`${DEPRECATED} in /cfg/m.conf:1`]);
    assert.equal(effectiveServers(load(text).config)[0]!.listen[0]!.ssl, false);
  });

  test("without a certificate it is refused naming the ssl directive, as nginx does", () => {
    const text = "mail {\n  auth_http 127.0.0.1:9000;\n  ssl on;\n  server { listen 993; }\n}\n";
    assert.equal(errorOf(text), 'no "ssl_certificate" is defined for the "ssl" directive in /cfg/m.conf:3');
  });

  test("conflicts with starttls at the same level, in nginx's words for each order", () => {
    assert.equal(
      errorOf(`mail { auth_http 127.0.0.1:9000; ${CERT}\nssl on;\nstarttls on; server { listen 993; } }`),
      '"ssl" directive conflicts with "starttls" in /cfg/m.conf:3',
    );
    assert.equal(
      errorOf(`mail { auth_http 127.0.0.1:9000; ${CERT}\nstarttls on;\nssl on; server { listen 993; } }`),
      '"starttls" directive conflicts with "ssl on" in /cfg/m.conf:3',
    );
  });
});
