import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ehloReply } from "../../../src/protocols/smtp/capabilities.ts";
import { isCompleteSmtpReply, smtpReply } from "../../../src/protocols/smtp/reply.ts";
import { xtext } from "../../../src/wire/xtext.ts";
import type { AuthMethodName, StartTls } from "../../../src/config/model.ts";

function ehlo(starttls: StartTls, tlsActive: boolean, auth: AuthMethodName[] = ["plain", "login"], capabilities: string[] = []) {
  return ehloReply({ serverName: "mx.example.com", capabilities, auth, starttls, tlsActive });
}

describe("SMTP EHLO reply", () => {
  test("defaults without TLS: name and AUTH PLAIN LOGIN", () => {
    assert.equal(ehlo("off", false), "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n");
  });

  test("capabilities, AUTH and STARTTLS with starttls on", () => {
    assert.equal(
      ehlo("on", false, ["plain", "login"], ["SIZE 10485760", "8BITMIME"]),
      "250-mx.example.com\r\n250-SIZE 10485760\r\n250-8BITMIME\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
    );
  });

  test("starttls only hides the AUTH line before TLS", () => {
    assert.equal(ehlo("only", false, ["plain", "login"], ["8BITMIME"]), "250-mx.example.com\r\n250-8BITMIME\r\n250 STARTTLS\r\n");
  });

  test("TLS active shows AUTH and no STARTTLS whatever starttls says", () => {
    for (const mode of ["on", "only", "off"] as const) {
      assert.equal(ehlo(mode, true), "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n");
    }
  });

  test("smtp_auth none alone gives the name only", () => {
    assert.equal(ehlo("off", false, ["none"]), "250 mx.example.com\r\n");
    assert.equal(ehlo("on", false, ["none"]), "250-mx.example.com\r\n250 STARTTLS\r\n");
  });

  test("mechanisms appear in fixed order and none never appears", () => {
    assert.equal(ehlo("off", false, ["none", "external", "cram-md5", "login", "plain"]), "250-mx.example.com\r\n250 AUTH PLAIN LOGIN CRAM-MD5 EXTERNAL\r\n");
    assert.equal(ehlo("off", false, ["login"]), "250-mx.example.com\r\n250 AUTH LOGIN\r\n");
  });

  test("XOAUTH2 and OAUTHBEARER are appended to the AUTH line when listed", () => {
    assert.equal(ehlo("off", false, ["oauthbearer", "xoauth2", "plain"]), "250-mx.example.com\r\n250 AUTH PLAIN XOAUTH2 OAUTHBEARER\r\n");
    assert.equal(ehlo("off", false, ["xoauth2"]), "250-mx.example.com\r\n250 AUTH XOAUTH2\r\n");
  });
});

describe("SMTP reply framing", () => {
  test("all lines but the last carry a dash after the code", () => {
    assert.equal(smtpReply("250", ["a", "b", "c"]), "250-a\r\n250-b\r\n250 c\r\n");
    assert.equal(smtpReply("220", ["ready"]), "220 ready\r\n");
  });

  test("a reply is complete when it ends in CRLF and its last line is final", () => {
    assert.equal(isCompleteSmtpReply("220 mta ESMTP\r\n"), true);
    assert.equal(isCompleteSmtpReply("250-a\r\n250 b\r\n"), true);
    assert.equal(isCompleteSmtpReply("250-a\r\n250-b\r\n250 c\r\n"), true);
    assert.equal(isCompleteSmtpReply("250-a\r\n250\r\n"), true);
  });

  test("a reply is incomplete without CRLF, with fewer than 4 bytes, or when the last line continues", () => {
    assert.equal(isCompleteSmtpReply("220 mta"), false);
    assert.equal(isCompleteSmtpReply("2\r\n"), false);
    assert.equal(isCompleteSmtpReply("250-a\r\n"), false);
    assert.equal(isCompleteSmtpReply("250-a\r\n250-b\r\n"), false);
    assert.equal(isCompleteSmtpReply("250-a\r\n250 b"), false);
  });
});

describe("xtext", () => {
  test("printable ASCII other than + and = is kept", () => {
    assert.equal(xtext("john@example.com"), "john@example.com");
  });

  test("space, controls, +, =, DEL and bytes above 0x7F are +XX in uppercase hex", () => {
    assert.equal(xtext("john doe+x=y"), "john+20doe+2Bx+3Dy");
    assert.equal(xtext("\x00\t\x7f\xd0\xbf!~"), "+00+09+7F+D0+BF!~");
  });
});
