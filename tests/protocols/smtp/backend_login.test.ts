import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpBackendLogin, type SmtpBackendLoginOptions } from "../../../src/protocols/smtp/backend_login.ts";
import { encodeBase64 } from "../../../src/wire/sasl.ts";
import type { BackendStep } from "../../../src/protocols/types.ts";

function login(options: Partial<SmtpBackendLoginOptions> = {}): SmtpBackendLogin {
  return new SmtpBackendLogin({
    serverName: "mx.example.com",
    xclient: true,
    proxySmtpAuth: false,
    clientAddr: "192.0.2.42",
    clientHost: "[UNAVAILABLE]",
    user: "john",
    pass: "secret",
    method: "plain",
    context: { smtpHelo: "client.example.org", smtpEsmtp: true },
    ...options,
  });
}

/** Answer every proxy line with the next reply; return the proxy's lines and its last step. */
function dialogue(machine: SmtpBackendLogin, replies: string[]): { sent: string[]; last: BackendStep } {
  const sent: string[] = [];
  let last: BackendStep | undefined;
  for (const reply of replies) {
    last = machine.onReply(reply);
    if (last.type === "send") sent.push(last.data);
  }
  return { sent, last: last! };
}

const EHLO_REPLY = "250-postfix.internal\r\n250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250 8BITMIME\r\n";
const DONE = { type: "done", toClient: "235 2.0.0 OK\r\n" };

describe("SMTP backend login with xclient", () => {
  test("EHLO, XCLIENT with ADDR, LOGIN and NAME, client EHLO replay, then 235 for the client", () => {
    const { sent, last } = dialogue(login(), ["220 postfix.internal ESMTP Postfix\r\n", EHLO_REPLY, "220 postfix.internal ESMTP Postfix\r\n", "250-postfix.internal\r\n250 8BITMIME\r\n"]);
    assert.deepEqual(sent, [
      "EHLO mx.example.com\r\n",
      "XCLIENT ADDR=192.0.2.42 LOGIN=john NAME=[UNAVAILABLE]\r\n",
      "EHLO client.example.org\r\n",
    ]);
    assert.deepEqual(last, DONE);
  });

  test("an IPv6 client address gets the IPV6: prefix", () => {
    const { sent } = dialogue(login({ clientAddr: "2001:db8::1", clientHost: "host.example.org" }), ["220 x\r\n", "250 x\r\n"]);
    assert.equal(sent[1], "XCLIENT ADDR=IPV6:2001:db8::1 LOGIN=john NAME=host.example.org\r\n");
  });

  test("the LOGIN value is xtext-encoded", () => {
    const { sent } = dialogue(login({ user: "john doe+x=\xd0\xbf" }), ["220 x\r\n", "250 x\r\n"]);
    assert.equal(sent[1], "XCLIENT ADDR=192.0.2.42 LOGIN=john+20doe+2Bx+3D+D0+BF NAME=[UNAVAILABLE]\r\n");
  });

  test("no LOGIN without a known user name", () => {
    for (const user of [undefined, ""]) {
      const { sent } = dialogue(login({ user }), ["220 x\r\n", "250 x\r\n"]);
      assert.equal(sent[1], "XCLIENT ADDR=192.0.2.42 NAME=[UNAVAILABLE]\r\n");
    }
  });

  test("XCLIENT may be answered with 250 as well as 220", () => {
    const { last } = dialogue(login(), ["220 x\r\n", "250 x\r\n", "250 ok\r\n", "250 x\r\n"]);
    assert.deepEqual(last, DONE);
  });

  test("a client that used HELO has HELO replayed, yet the proxy says EHLO", () => {
    const { sent } = dialogue(login({ context: { smtpHelo: "old.example", smtpEsmtp: false } }), ["220 x\r\n", "250 x\r\n", "220 x\r\n"]);
    assert.deepEqual(sent, ["EHLO mx.example.com\r\n", "XCLIENT ADDR=192.0.2.42 LOGIN=john NAME=[UNAVAILABLE]\r\n", "HELO old.example\r\n"]);
  });

  test("without a client HELO nothing is replayed", () => {
    const { sent, last } = dialogue(login({ context: { smtpHelo: "", smtpEsmtp: false } }), ["220 x\r\n", "250 x\r\n", "220 x\r\n"]);
    assert.equal(sent.length, 2);
    assert.deepEqual(last, DONE);
  });

  test("a backend without XCLIENT fails and its reply is kept", () => {
    const { last } = dialogue(login(), ["220 x\r\n", "250 x\r\n", "501 5.5.1 Bad command\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "501 5.5.1 Bad command\r\n", reason: "upstream sent invalid response" });
  });
});

describe("SMTP backend login without xclient", () => {
  test("HELO with the server name when the client used HELO, then 235", () => {
    const { sent, last } = dialogue(login({ xclient: false, context: { smtpHelo: "c", smtpEsmtp: false } }), ["220 mta\r\n", "250 mta\r\n"]);
    assert.deepEqual(sent, ["HELO mx.example.com\r\n"]);
    assert.deepEqual(last, DONE);
  });

  test("EHLO with the server name when the client used EHLO, no replay", () => {
    const { sent, last } = dialogue(login({ xclient: false }), ["220 mta\r\n", "250-mta\r\n250 8BITMIME\r\n"]);
    assert.deepEqual(sent, ["EHLO mx.example.com\r\n"]);
    assert.deepEqual(last, DONE);
  });
});

describe("SMTP backend login with proxy_smtp_auth", () => {
  test("XCLIENT without LOGIN, then AUTH PLAIN expecting 235", () => {
    const { sent, last } = dialogue(login({ proxySmtpAuth: true }), ["220 x\r\n", "250 x\r\n", "220 x\r\n", "250 x\r\n", "235 2.7.0 Authentication successful\r\n"]);
    assert.deepEqual(sent, [
      "EHLO mx.example.com\r\n",
      "XCLIENT ADDR=192.0.2.42 NAME=[UNAVAILABLE]\r\n",
      "EHLO client.example.org\r\n",
      `AUTH PLAIN ${encodeBase64("\0john\0secret")}\r\n`,
    ]);
    assert.equal(sent[3], "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n");
    assert.deepEqual(last, DONE);
  });

  test("without xclient AUTH follows the proxy's hello", () => {
    const { sent } = dialogue(login({ proxySmtpAuth: true, xclient: false }), ["220 x\r\n", "250 x\r\n"]);
    assert.deepEqual(sent, ["EHLO mx.example.com\r\n", "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n"]);
  });

  test("a refused AUTH fails with the backend's reply", () => {
    const { last } = dialogue(login({ proxySmtpAuth: true, xclient: false }), ["220 x\r\n", "250 x\r\n", "535 5.7.8 Authentication failed\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "535 5.7.8 Authentication failed\r\n", reason: "upstream sent invalid response" });
  });

  test("no password available fails before AUTH is sent", () => {
    const { sent, last } = dialogue(login({ proxySmtpAuth: true, xclient: false, method: "cram-md5", pass: undefined }), ["220 x\r\n", "250 x\r\n"]);
    assert.deepEqual(sent, ["EHLO mx.example.com\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "", reason: "no password available" });
  });
});

describe("SMTP backend login for smtp_auth none", () => {
  const context = { smtpHelo: "sender.example", smtpEsmtp: false, smtpMail: "MAIL FROM:<a@sender.example>", smtpRcpt: "RCPT TO:<bob@example.com>" };

  test("xclient off: HELO, MAIL and RCPT replayed, the RCPT reply goes to the client", () => {
    const machine = login({ xclient: false, method: "none", user: undefined, pass: undefined, context });
    const { sent, last } = dialogue(machine, ["220 mta ESMTP\r\n", "250 mta\r\n", "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n"]);
    assert.deepEqual(sent, ["HELO mx.example.com\r\n", "MAIL FROM:<a@sender.example>\r\n", "RCPT TO:<bob@example.com>\r\n"]);
    assert.deepEqual(last, { type: "done", toClient: "250 2.1.5 Ok\r\n" });
  });

  test("xclient on: XCLIENT without LOGIN and the HELO replay come before MAIL", () => {
    const machine = login({ method: "none", user: "", pass: undefined, proxySmtpAuth: true, context });
    const { sent } = dialogue(machine, ["220 x\r\n", "250 x\r\n", "220 x\r\n", "250 x\r\n", "250 x\r\n"]);
    assert.deepEqual(sent, [
      "EHLO mx.example.com\r\n",
      "XCLIENT ADDR=192.0.2.42 NAME=[UNAVAILABLE]\r\n",
      "HELO sender.example\r\n",
      "MAIL FROM:<a@sender.example>\r\n",
      "RCPT TO:<bob@example.com>\r\n",
    ]);
  });

  test("a refused RCPT is still forwarded to the client", () => {
    const machine = login({ xclient: false, method: "none", context });
    const { last } = dialogue(machine, ["220 x\r\n", "250 x\r\n", "250 x\r\n", "550 5.1.1 No such user\r\n"]);
    assert.deepEqual(last, { type: "done", toClient: "550 5.1.1 No such user\r\n" });
  });

  test("a refused MAIL fails with the backend's reply", () => {
    const machine = login({ xclient: false, method: "none", context });
    const { last } = dialogue(machine, ["220 x\r\n", "250 x\r\n", "554 5.7.1 Rejected\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "554 5.7.1 Rejected\r\n", reason: "upstream sent invalid response" });
  });
});

describe("SMTP backend login failures", () => {
  test("a greeting other than 220 fails with the whole reply", () => {
    const { sent, last } = dialogue(login(), ["554-go away\r\n554 really\r\n"]);
    assert.deepEqual(sent, []);
    assert.deepEqual(last, { type: "fail", reply: "554-go away\r\n554 really\r\n", reason: "upstream sent invalid response" });
  });

  test("a refused EHLO fails", () => {
    const { last } = dialogue(login(), ["220 x\r\n", "502 5.5.2 Error\r\n"]);
    assert.equal(last.type, "fail");
  });

  test("a refused client HELO replay fails", () => {
    const { last } = dialogue(login(), ["220 x\r\n", "250 x\r\n", "220 x\r\n", "501 5.5.4 Bad HELO\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "501 5.5.4 Bad HELO\r\n", reason: "upstream sent invalid response" });
  });

  test("a reply after the dialogue finished is a failure", () => {
    const { last } = dialogue(login({ xclient: false }), ["220 x\r\n", "250 x\r\n", "250 x\r\n"]);
    assert.equal(last.type, "fail");
  });
});
