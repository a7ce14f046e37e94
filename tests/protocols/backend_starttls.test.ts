import { test } from "node:test";
import assert from "node:assert/strict";
import { createBackendStarttls } from "../../src/protocols/factory.ts";
import { SmtpBackendLogin } from "../../src/protocols/smtp/backend_login.ts";

test("SMTP to the backend: EHLO, STARTTLS, then the login machine's EHLO again over TLS", () => {
  const pre = createBackendStarttls("smtp", "mx.example.com");
  assert.deepEqual(pre.onReply("220 backend ESMTP\r\n"), { type: "send", data: "EHLO mx.example.com\r\n" });
  assert.deepEqual(pre.onReply("250-backend\r\n250 STARTTLS\r\n"), { type: "send", data: "STARTTLS\r\n" });
  const upgrade = pre.onReply("220 2.0.0 Ready to start TLS\r\n");
  assert.deepEqual(upgrade, { type: "upgrade", greeting: "220 backend ESMTP\r\n" });
  const login = new SmtpBackendLogin({
    serverName: "mx.example.com",
    xclient: false,
    proxySmtpAuth: true,
    clientAddr: "192.0.2.1",
    clientHost: "[UNAVAILABLE]",
    user: "sam",
    pass: "secret",
    method: "plain",
    context: { smtpEsmtp: true, smtpHelo: "client" },
  });
  assert.deepEqual(login.onReply(upgrade.type === "upgrade" ? upgrade.greeting : ""), { type: "send", data: "EHLO mx.example.com\r\n" });
});

test("IMAP to the backend: untagged lines before the tagged OK are waited through", () => {
  const pre = createBackendStarttls("imap", "mx");
  assert.deepEqual(pre.onReply("* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n"), { type: "send", data: "S1 STARTTLS\r\n" });
  assert.deepEqual(pre.onReply("* BYE not really\r\n"), { type: "wait" });
  assert.deepEqual(pre.onReply("S1 OK Begin TLS negotiation now.\r\n"), {
    type: "upgrade",
    greeting: "* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n",
  });
});

test("a backend that refuses STARTTLS or STLS is a failure naming the refusal", () => {
  const imap = createBackendStarttls("imap", "mx");
  imap.onReply("* OK ready\r\n");
  assert.deepEqual(imap.onReply("S1 BAD unknown command\r\n"), {
    type: "fail",
    reply: "S1 BAD unknown command\r\n",
    reason: "upstream refused STARTTLS",
  });
  const pop3 = createBackendStarttls("pop3", "mx");
  pop3.onReply("+OK ready\r\n");
  assert.deepEqual(pop3.onReply("-ERR no TLS here\r\n"), { type: "fail", reply: "-ERR no TLS here\r\n", reason: "upstream refused STARTTLS" });
  const smtp = createBackendStarttls("smtp", "mx");
  assert.deepEqual(smtp.onReply("554 go away\r\n"), { type: "fail", reply: "554 go away\r\n", reason: "upstream sent invalid response" });
});
