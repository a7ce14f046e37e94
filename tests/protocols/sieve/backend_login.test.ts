import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SieveBackendLogin } from "../../../src/protocols/sieve/backend_login.ts";
import { sieveStatus } from "../../../src/protocols/sieve/response.ts";
import { createBackendStarttls } from "../../../src/protocols/factory.ts";

const GREETING = '"IMPLEMENTATION" "Dovecot Pigeonhole"\r\n"SIEVE" "fileinto"\r\n"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\nOK "Dovecot ready."\r\n';

describe("ManageSieve responses from a backend", () => {
  test("a response is complete at its status line; its string is the text", () => {
    assert.equal(sieveStatus('"SASL" "PLAIN"\r\n'), null);
    assert.equal(sieveStatus('"SASL" "PLAIN"\r\nOK "ready'), null);
    assert.deepEqual(sieveStatus(GREETING), { status: "OK", text: "Dovecot ready." });
    assert.deepEqual(sieveStatus('no (AUTH-TOO-WEAK) "Say \\"please\\""\r\n'), { status: "NO", text: 'Say "please"' });
    assert.deepEqual(sieveStatus("BYE\r\n"), { status: "BYE", text: "" });
    assert.deepEqual(sieveStatus("NO {5}\r\nab\r\nc\r\n"), { status: "NO", text: "ab\r\nc" });
  });

  test("a literal's data is never read as a status line", () => {
    assert.equal(sieveStatus('"SIEVE" {4}\r\nOK\r\n'), null);
    assert.deepEqual(sieveStatus('"SIEVE" {4}\r\nOK\r\n\r\nOK\r\n'), { status: "OK", text: "" });
  });
});

describe("ManageSieve backend login", () => {
  test("after the whole greeting (in pieces), AUTHENTICATE PLAIN with the initial response; OK goes to the client", () => {
    const login = new SieveBackendLogin("alice", "sec\"ret");
    assert.deepEqual(login.onReply(GREETING.slice(0, 40)), { type: "wait" });
    assert.deepEqual(login.onReply(GREETING.slice(40)), {
      type: "send",
      data: `AUTHENTICATE "PLAIN" "${Buffer.from('\0alice\0sec"ret').toString("base64")}"\r\n`,
    });
    assert.deepEqual(login.onReply('OK "Logged in."\r\n'), { type: "done", toClient: 'OK "Logged in."\r\n' });
  });

  test("the backend's NO is the refusal, with its text", () => {
    const login = new SieveBackendLogin("alice", "wrong");
    login.onReply(GREETING);
    const step = login.onReply('NO "Authentication failed."\r\n');
    assert.equal(step.type, "fail");
    assert.deepEqual(login.refusal, { text: "Authentication failed." });
  });

  test("a greeting that is no OK fails without a refusal", () => {
    const login = new SieveBackendLogin("alice", "x");
    assert.deepEqual(login.onReply('BYE "Too many connections"\r\n'), {
      type: "fail",
      reply: 'BYE "Too many connections"\r\n',
      reason: "upstream sent invalid response",
    });
    assert.equal(login.refusal, undefined);
  });

  test("OAuth: the client's payload is replayed; an error challenge is answered and kept for the refusal", () => {
    const payload = "user=alice\x01auth=Bearer tok\x01\x01";
    const login = new SieveBackendLogin("alice", "", { mechanism: "XOAUTH2", payload });
    assert.deepEqual(login.onReply(GREETING), {
      type: "send",
      data: `AUTHENTICATE "XOAUTH2" "${Buffer.from(payload).toString("base64")}"\r\n`,
    });
    assert.deepEqual(login.onReply('"eyJzdGF0dXMiOiI0MDEifQ=="\r\n'), { type: "send", data: '"AQ=="\r\n' });
    assert.equal(login.onReply('NO "Bad token"\r\n').type, "fail");
    assert.deepEqual(login.refusal, { text: "Bad token", oauthChallenge: "eyJzdGF0dXMiOiI0MDEifQ==" });
  });

  test("a password with a NUL is refused by the encoder before anything is sent", () => {
    const login = new SieveBackendLogin("alice", "a\0b");
    assert.throws(() => login.onReply(GREETING), { name: "UnsafeValueError", message: /the password cannot be sent to the ManageSieve backend/ });
  });
});

describe("ManageSieve STARTTLS toward a backend", () => {
  test("greeting, STARTTLS, OK: upgrade, and the login machine reads the capabilities re-issued over TLS", () => {
    const pre = createBackendStarttls("sieve", "mx.example.com");
    assert.deepEqual(pre.onReply('"SASL" ""\r\n"STARTTLS"\r\n'), { type: "wait" });
    assert.deepEqual(pre.onReply('OK "ready"\r\n'), { type: "send", data: "STARTTLS\r\n" });
    assert.deepEqual(pre.onReply('OK "Begin TLS negotiation now."\r\n'), { type: "upgrade", greeting: "" });
    const login = new SieveBackendLogin("alice", "secret");
    assert.deepEqual(login.onReply(""), { type: "wait" });
    assert.equal(login.onReply(GREETING).type, "send");
  });

  test("a refused STARTTLS fails", () => {
    const pre = createBackendStarttls("sieve", "mx.example.com");
    pre.onReply(GREETING);
    assert.deepEqual(pre.onReply('NO "TLS support isn\'t enabled."\r\n'), {
      type: "fail",
      reply: 'NO "TLS support isn\'t enabled."\r\n',
      reason: "upstream refused STARTTLS",
    });
  });
});
