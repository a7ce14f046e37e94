/** The SMTP transcripts of protocols.md §5.6 and §9, client side and backend side. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpPreauth, type SmtpPreauthOptions } from "../../../src/protocols/smtp/preauth.ts";
import { SmtpBackendLogin } from "../../../src/protocols/smtp/backend_login.ts";
import type { BackendStep } from "../../../src/protocols/types.ts";
import { authOf, check, render, talk } from "../../support/preauth_script.ts";

function smtp(options: Partial<SmtpPreauthOptions> = {}): () => SmtpPreauth {
  return () =>
    new SmtpPreauth({
      smtp_auth: ["plain", "login"],
      smtp_capabilities: [],
      smtp_client_buffer: 4096,
      max_errors: 5,
      starttls: "off",
      server_name: "mx.example.com",
      implicitTls: false,
      ...options,
    });
}

/** Play backend replies; the proxy's lines and the last step. */
function backend(login: SmtpBackendLogin, replies: string[]): { sent: string[]; last: BackendStep } {
  const sent: string[] = [];
  let last: BackendStep | undefined;
  for (const reply of replies) {
    last = login.onReply(reply);
    if (last.type === "send") sent.push(last.data);
  }
  return { sent, last: last! };
}

describe("SMTP transcripts", () => {
  test("AUTH LOGIN with xclient on against a Postfix backend", () => {
    const run = check(smtp(), ["EHLO client.example.org\r\n", "AUTH LOGIN\r\n", "am9obg==\r\n", "c2VjcmV0\r\n", "MAIL FROM:<john@example.com>\r\n"]);
    assert.deepEqual(run.actions.slice(0, 4), [
      { type: "send", data: "220 mx.example.com ESMTP ready\r\n" },
      { type: "send", data: "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n" },
      { type: "send", data: "334 VXNlcm5hbWU6\r\n" },
      { type: "send", data: "334 UGFzc3dvcmQ6\r\n" },
    ]);
    const { credentials, context } = authOf(run);
    assert.equal(run.pending, "MAIL FROM:<john@example.com>\r\n");
    const login = new SmtpBackendLogin({
      serverName: "mx.example.com",
      xclient: true,
      proxySmtpAuth: false,
      clientAddr: "192.0.2.42",
      clientHost: "[UNAVAILABLE]",
      user: credentials.user,
      pass: credentials.pass,
      method: credentials.method,
      context,
    });
    const { sent, last } = backend(login, [
      "220 postfix.internal ESMTP Postfix\r\n",
      "250-postfix.internal\r\n250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250 8BITMIME\r\n",
      "220 postfix.internal ESMTP Postfix\r\n",
      "250-postfix.internal\r\n250 8BITMIME\r\n",
    ]);
    assert.deepEqual(sent, [
      "EHLO mx.example.com\r\n",
      "XCLIENT ADDR=192.0.2.42 LOGIN=john NAME=[UNAVAILABLE]\r\n",
      "EHLO client.example.org\r\n",
    ]);
    assert.deepEqual(last, { type: "done", toClient: "235 2.0.0 OK\r\n" });
  });

  test("smtp_auth none with xclient off: the backend's RCPT reply reaches the client", () => {
    const run = check(smtp({ smtp_auth: ["none"] }), ["HELO sender.example\r\n", "MAIL FROM:<a@sender.example>\r\n", "RCPT TO:<bob@example.com>\r\n"]);
    assert.deepEqual(render(run.actions), [
      "220 mx.example.com ESMTP ready\r\n",
      "250 mx.example.com\r\n",
      "250 2.0.0 OK\r\n",
      "[auth none]",
    ]);
    const { credentials, context } = authOf(run);
    const login = new SmtpBackendLogin({
      serverName: "mx.example.com",
      xclient: false,
      proxySmtpAuth: false,
      clientAddr: "192.0.2.42",
      clientHost: "[UNAVAILABLE]",
      method: credentials.method,
      context,
    });
    const { sent, last } = backend(login, ["220 mta ESMTP\r\n", "250 mta\r\n", "250 2.1.0 Ok\r\n", "250 2.1.5 Ok\r\n"]);
    assert.deepEqual(sent, ["HELO mx.example.com\r\n", "MAIL FROM:<a@sender.example>\r\n", "RCPT TO:<bob@example.com>\r\n"]);
    assert.deepEqual(last, { type: "done", toClient: "250 2.1.5 Ok\r\n" });
  });

  test("starttls only: AUTH refused until STARTTLS, then EHLO offers AUTH", () => {
    assert.deepEqual(
      talk(smtp({ starttls: "only" }), ["EHLO c.example\r\n", "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n", "STARTTLS\r\n", { tlsStarted: true }, "EHLO c.example\r\n"]),
      [
        "220 mx.example.com ESMTP ready\r\n",
        "250-mx.example.com\r\n250 STARTTLS\r\n",
        "500 5.5.1 Invalid command\r\n",
        "220 2.0.0 Start TLS\r\n",
        "[starttls]",
        "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n",
      ],
    );
  });

  test("auth failure with Auth-Wait: the client may retry", () => {
    assert.deepEqual(
      talk(smtp(), ["AUTH PLAIN AGpvaG4Ad3Jvbmc=\r\n", { authFailed: "Invalid login or password" }, "NOOP\r\n"]),
      ["220 mx.example.com ESMTP ready\r\n", "[auth plain]", "535 5.7.0 Invalid login or password\r\n", "250 2.0.0 OK\r\n"],
    );
  });
});
