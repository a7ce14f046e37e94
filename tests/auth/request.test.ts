import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AuthHttpUrl } from "../../src/config/model.ts";
import type { AuthRequest } from "../../src/auth/types.ts";
import { buildAuthRequest, escapeAuthValue } from "../../src/auth/request.ts";

function tcpUrl(host: string, uri: string, port = 80): AuthHttpUrl {
  return { kind: "tcp", url: `http://${host}${uri}`, host, port, uri };
}

const UNIX: AuthHttpUrl = { kind: "unix", url: "unix:/run/auth.sock:/auth", path: "/run/auth.sock", uri: "/auth" };

/** The spec's examples are written with LF; the wire uses CRLF. */
function crlf(text: string): string {
  return text.replace(/\n/g, "\r\n");
}

function binary(text: string): string {
  return Buffer.from(text, "utf8").toString("latin1");
}

describe("auth_http request examples of auth-http.md §3", () => {
  test("IMAP LOGIN escapes user and password and appends the custom header", () => {
    const req: AuthRequest = {
      protocol: "imap",
      credentials: { method: "plain", user: "john doe", pass: "s3cr%t" },
      attempt: 1,
      clientIp: "192.0.2.42",
    };
    assert.equal(
      buildAuthRequest(tcpUrl("auth.internal", "/auth", 9000), req, [["X-Auth-Key", "k1"]], "1.0"),
      crlf(`GET /auth HTTP/1.0
Host: auth.internal
Auth-Method: plain
Auth-User: john%20doe
Auth-Pass: s3cr%25t
Auth-Protocol: imap
Auth-Login-Attempt: 1
Client-IP: 192.0.2.42
X-Auth-Key: k1

`),
    );
  });

  test("POP3 APOP second attempt sends the salt and Host localhost for a UNIX socket", () => {
    const req: AuthRequest = {
      protocol: "pop3",
      credentials: {
        method: "apop",
        user: "alice",
        pass: "9e3b6b0c4ad8a1f0b2a38e6c0c1bd2a7",
        salt: "<1896113702.1700000000@mx.example.com>",
      },
      attempt: 2,
      clientIp: "198.51.100.7",
    };
    assert.equal(
      buildAuthRequest({ ...UNIX, uri: "/auth" }, req, [], "1.0"),
      crlf(`GET /auth HTTP/1.0
Host: localhost
Auth-Method: apop
Auth-User: alice
Auth-Pass: 9e3b6b0c4ad8a1f0b2a38e6c0c1bd2a7
Auth-Salt: <1896113702.1700000000@mx.example.com>
Auth-Protocol: pop3
Auth-Login-Attempt: 2
Client-IP: 198.51.100.7

`),
    );
  });

  test("SMTP none sends Client-Host, the PROXY protocol group and the Auth-SMTP group with empty user and pass", () => {
    const req: AuthRequest = {
      protocol: "smtp",
      credentials: {
        method: "none",
        user: "",
        pass: "",
        smtp: {
          helo: "mail.sender.example",
          from: "MAIL FROM:<bounce@sender.example> SIZE=2048",
          to: "RCPT TO:<postmaster@example.com>",
        },
      },
      attempt: 1,
      clientIp: "203.0.113.9",
      clientHost: "mail.sender.example",
      proxyProtocol: { addr: "203.0.113.9", port: 51234, serverAddr: "192.0.2.10", serverPort: 25 },
    };
    assert.equal(
      buildAuthRequest(tcpUrl("127.0.0.1", "/"), req, [], "1.0"),
      crlf(`GET / HTTP/1.0
Host: 127.0.0.1
Auth-Method: none
Auth-User: 
Auth-Pass: 
Auth-Protocol: smtp
Auth-Login-Attempt: 1
Client-IP: 203.0.113.9
Client-Host: mail.sender.example
Proxy-Protocol-Addr: 203.0.113.9
Proxy-Protocol-Port: 51234
Proxy-Protocol-Server-Addr: 192.0.2.10
Proxy-Protocol-Server-Port: 25
Auth-SMTP-Helo: mail.sender.example
Auth-SMTP-From: MAIL FROM:<bounce@sender.example> SIZE=2048
Auth-SMTP-To: RCPT TO:<postmaster@example.com>

`),
    );
  });

  test("IMAPS with a verified client certificate sends the Auth-SSL group", () => {
    const req: AuthRequest = {
      protocol: "imap",
      credentials: { method: "plain", user: "bob", pass: "hunter2" },
      attempt: 1,
      clientIp: "192.0.2.42",
      tls: {
        protocol: "TLSv1.3",
        cipher: "TLS_AES_256_GCM_SHA384",
        verify: "SUCCESS",
        subject: "CN=bob,O=Example",
        issuer: "CN=Example CA",
        serial: "1A2B3C",
        fingerprint: "29d6a80a123d13355ed16b4b04605e29cb55a5ad",
      },
    };
    assert.equal(
      buildAuthRequest(UNIX, req, [], "1.0"),
      crlf(`GET /auth HTTP/1.0
Host: localhost
Auth-Method: plain
Auth-User: bob
Auth-Pass: hunter2
Auth-Protocol: imap
Auth-Login-Attempt: 1
Client-IP: 192.0.2.42
Auth-SSL: on
Auth-SSL-Protocol: TLSv1.3
Auth-SSL-Cipher: TLS_AES_256_GCM_SHA384
Auth-SSL-Verify: SUCCESS
Auth-SSL-Subject: CN=bob,O=Example
Auth-SSL-Issuer: CN=Example CA
Auth-SSL-Serial: 1A2B3C
Auth-SSL-Fingerprint: 29d6a80a123d13355ed16b4b04605e29cb55a5ad

`),
    );
  });
});

describe("auth_http request headers beyond the examples", () => {
  const base: AuthRequest = {
    protocol: "imap",
    credentials: { method: "plain", user: "u", pass: "p" },
    attempt: 3,
    clientIp: "2001:db8::1",
  };

  test("the pooled variant differs only in the request line", () => {
    const old = buildAuthRequest(tcpUrl("a.example", "/x?k=v"), base, [], "1.0");
    const pooled = buildAuthRequest(tcpUrl("a.example", "/x?k=v"), base, [], "1.1");
    assert.equal(old.split("\r\n")[0], "GET /x?k=v HTTP/1.0");
    assert.equal(pooled, old.replace("HTTP/1.0", "HTTP/1.1"));
  });

  test("the SNI name follows Auth-SSL-Cipher and the escaped PEM comes last", () => {
    const req: AuthRequest = {
      ...base,
      tls: {
        protocol: "TLSv1.2",
        cipher: "ECDHE-RSA-AES128-GCM-SHA256",
        serverName: "imap.example.com",
        verify: "NONE",
        certPem: "-----BEGIN CERTIFICATE-----\nMII A%\n-----END CERTIFICATE-----\n",
      },
    };
    const lines = buildAuthRequest(tcpUrl("h", "/"), req, [["X-A", "1"]], "1.0").split("\r\n");
    assert.deepEqual(lines.slice(8), [
      "Auth-SSL: on",
      "Auth-SSL-Protocol: TLSv1.2",
      "Auth-SSL-Cipher: ECDHE-RSA-AES128-GCM-SHA256",
      "Auth-SSL-Server-Name: imap.example.com",
      "Auth-SSL-Verify: NONE",
      "Auth-SSL-Cert: -----BEGIN%20CERTIFICATE-----%0AMII%20A%25%0A-----END%20CERTIFICATE-----%0A",
      "X-A: 1",
      "",
      "",
    ]);
  });

  test("CRAM-MD5 on SMTP sends the salt, Client-Host [UNAVAILABLE] without a resolver and no Auth-SMTP group", () => {
    const req: AuthRequest = {
      protocol: "smtp",
      credentials: { method: "cram-md5", user: "tim", pass: "b913a602c7eda7a495b4e6e7334d3890", salt: "<1.2@x>" },
      attempt: 1,
      clientIp: "192.0.2.1",
    };
    assert.deepEqual(buildAuthRequest(tcpUrl("h", "/"), req, [], "1.0").split("\r\n").slice(2, 9), [
      "Auth-Method: cram-md5",
      "Auth-User: tim",
      "Auth-Pass: b913a602c7eda7a495b4e6e7334d3890",
      "Auth-Salt: <1.2@x>",
      "Auth-Protocol: smtp",
      "Auth-Login-Attempt: 1",
      "Client-IP: 192.0.2.1",
    ]);
    assert.match(buildAuthRequest(tcpUrl("h", "/"), req, [], "1.0"), /\r\nClient-Host: \[UNAVAILABLE\]\r\n\r\n$/);
  });

  test("EXTERNAL sends an empty Auth-Pass even when the credentials hold one", () => {
    const req: AuthRequest = { ...base, credentials: { method: "external", user: "bob", pass: "leftover" } };
    const text = buildAuthRequest(tcpUrl("h", "/"), req, [], "1.0");
    assert.ok(text.includes("\r\nAuth-Method: external\r\nAuth-User: bob\r\nAuth-Pass: \r\nAuth-Protocol: imap\r\n"));
  });

  test("XOAUTH2 names its method and carries the token in Auth-Pass", () => {
    const req: AuthRequest = { ...base, credentials: { method: "xoauth2", user: "me@x", pass: "ya29.tok en" } };
    const text = buildAuthRequest(tcpUrl("h", "/"), req, [], "1.0");
    assert.ok(text.includes("\r\nAuth-Method: xoauth2\r\nAuth-User: me@x\r\nAuth-Pass: ya29.tok%20en\r\n"));
  });

  test("custom headers are sent verbatim and in configuration order", () => {
    const text = buildAuthRequest(tcpUrl("h", "/"), base, [["X-B", "2 %"], ["X-A", ""], ["X-B", "3"]], "1.0");
    assert.ok(text.endsWith("\r\nClient-IP: 2001:db8::1\r\nX-B: 2 %\r\nX-A: \r\nX-B: 3\r\n\r\n"));
  });
});

describe("escaping of Auth-User, Auth-Pass and Auth-SSL-Cert (§2.3)", () => {
  const table: Array<[string, string, string]> = [
    ["a space", "john doe", "john%20doe"],
    ["a percent sign", "p%ss", "p%25ss"],
    ["a tab", "a\tb", "a%09b"],
    ["NUL, 0x1F, CR and LF", "\x00\x1f\r\n", "%00%1F%0D%0A"],
    ["plus and equals", "a+b=c", "a+b=c"],
    ["DEL", "x\x7f", "x\x7f"],
    ["other punctuation", "~!\"#$&'()*,/:;<>?@[\\]^_`{|}", "~!\"#$&'()*,/:;<>?@[\\]^_`{|}"],
    ["UTF-8", binary("пароль"), binary("пароль")],
    ["an empty value", "", ""],
  ];
  for (const [what, input, expected] of table) {
    test(`${what} in ${JSON.stringify(input)} is sent as ${JSON.stringify(expected)}`, () => {
      assert.equal(escapeAuthValue(input), expected);
    });
  }

  test("every byte below 0x21 and % is escaped with uppercase hex, all others are raw", () => {
    for (let b = 0; b < 256; b++) {
      const c = String.fromCharCode(b);
      const expected = b <= 0x20 || b === 0x25 ? "%" + b.toString(16).toUpperCase().padStart(2, "0") : c;
      assert.equal(escapeAuthValue(c), expected);
    }
  });
});
