import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HttpRequestHead } from "../../src/wire/http.ts";
import { imapLiteralBody, imapQuoted, imapTagged } from "../../src/wire/imap.ts";
import { pop3Command } from "../../src/wire/pop3.ts";
import { smtpCommand, xclientCommand } from "../../src/wire/smtp.ts";
import { saslPlainToken } from "../../src/wire/sasl.ts";
import { proxyHeaderV1 } from "../../src/wire/proxy_header.ts";
import { credentialsFit, UnsafeValueError } from "../../src/wire/wire.ts";

const refused = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (err: unknown) => err instanceof UnsafeValueError && message.test(err.message));

describe("HTTP request heads (the auth request)", () => {
  test("headers in order and the closing empty line", () => {
    const head = new HttpRequestHead("GET", "/auth?x=1", "1.1").header("Host", "auth").header("Auth-Pass", "p\x7f\xff\tq").end();
    assert.equal(head, "GET /auth?x=1 HTTP/1.1\r\nHost: auth\r\nAuth-Pass: p\x7f\xff\tq\r\n\r\n");
  });

  for (const byte of ["\r", "\n", "\0", "\x0b", "\x1f"]) {
    test(`a value with ${JSON.stringify(byte)} is refused, naming the header`, () => {
      refused(() => new HttpRequestHead("GET", "/", "1.0").header("Auth-SMTP-Helo", `a${byte}b`), /^the Auth-SMTP-Helo header cannot be sent in the auth request/);
    });
  }

  test("a header name that is no token, and a request target with a space, are refused", () => {
    refused(() => new HttpRequestHead("GET", "/", "1.0").header("X Bad", "v"), /^a header name/);
    refused(() => new HttpRequestHead("GET", "/a b", "1.0"), /^the request target/);
  });
});

describe("IMAP command text", () => {
  test("a tagged line, and literal bodies that carry CR and LF", () => {
    assert.equal(imapTagged("a1 ", "LOGIN {4}"), "a1 LOGIN {4}\r\n");
    assert.equal(imapLiteralBody("j\r\nn", 2), "j\r\nn {2}\r\n");
    assert.equal(imapLiteralBody("pw"), "pw\r\n");
  });

  test("a tag with a space, CR or IMAP specials, and a literal with NUL, are refused", () => {
    for (const tag of ["a 1 ", "a\r\n ", "a1", "a(1 ", '"a" ']) refused(() => imapTagged(tag, "NOOP"), /^the tag/);
    refused(() => imapLiteralBody("p\0w"), /^a literal cannot be sent to the IMAP backend/);
  });

  test("quoted strings escape quote and backslash and refuse CR, LF and NUL", () => {
    assert.equal(imapQuoted('a"b\\c', "v"), '"a\\"b\\\\c"');
    for (const bad of ["a\rb", "a\nb", "a\0b"]) refused(() => imapQuoted(bad, "an ID value"), /^an ID value/);
  });
});

describe("POP3 and SMTP command lines", () => {
  test("POP3 arguments with CR, LF or NUL are refused; the password is never named by its value", () => {
    assert.equal(pop3Command("USER", "alice"), "USER alice\r\n");
    refused(() => pop3Command("USER", "alice\r\nDELE 1"), /^the USER argument cannot be sent to the POP3 backend/);
    refused(() => pop3Command("PASS", "s3cret\0"), /^the password cannot be sent/);
  });

  test("SMTP lines refuse CR, LF and NUL; XCLIENT xtext-encodes LOGIN and refuses spaces in ADDR and NAME", () => {
    assert.equal(smtpCommand("MAIL FROM:<a@b>"), "MAIL FROM:<a@b>\r\n");
    refused(() => smtpCommand("RCPT TO:<a@b>\r\nDATA"), /^a command cannot be sent to the SMTP backend/);
    assert.equal(xclientCommand({ addr: "2001:db8::1", login: "j d\r\n", name: "host.example" }),
      "XCLIENT ADDR=IPV6:2001:db8::1 LOGIN=j+20d+0D+0A NAME=host.example\r\n");
    refused(() => xclientCommand({ addr: "192.0.2.1", name: "a LOGIN=admin" }), /^the XCLIENT NAME/);
    refused(() => xclientCommand({ addr: "192.0.2.1 LOGIN=x", name: "h" }), /^the XCLIENT ADDR/);
  });

  test("SASL PLAIN refuses NUL in the user name or password, which would move its fields", () => {
    assert.equal(saslPlainToken("alice", "pw", "smtp"), Buffer.from("\0alice\0pw").toString("base64"));
    refused(() => saslPlainToken("alice\0admin", "pw", "smtp"), /^the user name/);
  });

  test("which credentials each backend login can carry", () => {
    assert.equal(credentialsFit("pop3", { user: "a\r\nb", pass: "p" }), false);
    assert.equal(credentialsFit("imap", { user: "a\r\nb", pass: "p" }), true);
    assert.equal(credentialsFit("imap", { user: "a", pass: "p\0" }), false);
    assert.equal(credentialsFit("smtp", { user: "a\0", pass: "p" }), false);
  });
});

describe("PROXY v1 header", () => {
  test("an address with a zone ID, or any non-address, makes the header UNKNOWN", () => {
    assert.equal(proxyHeaderV1({ clientAddr: "fe80::1%eth0", clientPort: 1, localAddr: "::1", localPort: 143 }), "PROXY UNKNOWN\r\n");
    assert.equal(proxyHeaderV1({ clientAddr: "1.2.3.4 5.6.7.8", clientPort: 1, localAddr: "10.0.0.1", localPort: 143 }), "PROXY UNKNOWN\r\n");
    assert.equal(proxyHeaderV1({ clientAddr: "192.0.2.1", clientPort: 1, localAddr: "10.0.0.1", localPort: 143 }), "PROXY TCP4 192.0.2.1 10.0.0.1 1 143\r\n");
  });
});
