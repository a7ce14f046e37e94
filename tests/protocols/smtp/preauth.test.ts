import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SmtpPreauth, type SmtpPreauthOptions } from "../../../src/protocols/smtp/preauth.ts";
import { encodeBase64 } from "../../../src/wire/sasl.ts";
// The split-at-every-offset driver is shared with the POP3 tests.
import { authOf, check, fuzz, talk } from "../../support/preauth_script.ts";

const SALT = "<1896.697170952@mx.example.com>";

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
      makeSalt: () => SALT,
      ...options,
    });
}

const GREETING = "220 mx.example.com ESMTP ready\r\n";
const OK = "250 2.0.0 OK\r\n";
const INVALID = "500 5.5.1 Invalid command\r\n";
const INVALID_ARGUMENT = "501 5.5.4 Invalid argument\r\n";
const BAD_SEQUENCE = "503 5.5.1 Bad sequence of commands\r\n";
const EHLO_DEFAULT = "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n";

describe("SMTP greeting", () => {
  test("the greeting names the server", () => {
    assert.deepEqual(talk(smtp(), []), [GREETING]);
  });

  test("with smtp_greeting_delay the machine first asks for the wait, then greets", () => {
    const machine = smtp({ smtp_greeting_delay: 2000 })();
    assert.deepEqual(machine.greeting(), [{ type: "delay-greeting", ms: 2000 }]);
    assert.deepEqual(machine.greeting(), [{ type: "send", data: GREETING }]);
  });

  test("a client talking before a delayed greeting is refused and closed", () => {
    const machine = smtp({ smtp_greeting_delay: 2000 })();
    machine.greeting();
    assert.deepEqual(machine.earlyInput(), [
      { type: "send", data: "503 5.5.0 Improper use of SMTP command pipelining\r\n" },
      { type: "close", reason: "pipelining" },
    ]);
    assert.deepEqual(machine.feed("EHLO x\r\n"), [], "nothing is read after the refusal");
  });
});

describe("SMTP command syntax", () => {
  for (const line of ["DATA", "BDAT 10 LAST", "XCLIENT ADDR=1.2.3.4", "LHLO x", "STARTTL", "STARTTLSX", "HEL x", ""]) {
    test(`"${line}" is a counted syntax error`, () => {
      const factory = smtp({ max_errors: 2 });
      assert.deepEqual(talk(factory, [`${line}\r\n`]), [GREETING, INVALID]);
      assert.deepEqual(talk(factory, [`${line}\r\n${line}\r\n`]), [GREETING, INVALID, INVALID, "[close too-many-errors]"]);
    });
  }

  test("command words are case-insensitive", () => {
    assert.deepEqual(talk(smtp(), ["noop\r\nRsEt\r\nhelo x\r\n"]), [GREETING, OK, OK, "250 mx.example.com\r\n"]);
  });

  test("arguments are separated by runs of spaces, 11 at most", () => {
    const eleven = Array.from({ length: 11 }, (_, i) => `a${i}`).join("  ");
    assert.deepEqual(talk(smtp({ max_errors: 1 }), [`NOOP ${eleven}\r\n`]), [GREETING, OK]);
    assert.deepEqual(talk(smtp({ max_errors: 1 }), [`NOOP ${eleven} a11\r\n`]), [GREETING, INVALID, "[close too-many-errors]"]);
  });

  test("a CR without LF is a counted syntax error", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["NOOP\rx\r\n"]), [GREETING, INVALID, "[close too-many-errors]"]);
  });

  test("a command of exactly smtp_client_buffer bytes fits, one more byte does not", () => {
    const factory = smtp({ smtp_client_buffer: 32 });
    const fits = "NOOP " + "x".repeat(32 - "NOOP \r\n".length);
    assert.deepEqual(talk(factory, [`${fits}\r\n`]), [GREETING, OK]);
    assert.deepEqual(talk(factory, [`${fits}x\r\n`]), [GREETING, INVALID, "[close too-long]"]);
  });

  test("a too-long command does not count toward max_errors", () => {
    assert.deepEqual(talk(smtp({ smtp_client_buffer: 16, max_errors: 2 }), ["DATA\r\n", "x".repeat(40)]), [
      GREETING,
      INVALID,
      INVALID,
      "[close too-long]",
    ]);
  });
});

describe("SMTP commands", () => {
  test("HELO with one argument answers with the server name", () => {
    assert.deepEqual(talk(smtp(), ["HELO client.example\r\n"]), [GREETING, "250 mx.example.com\r\n"]);
  });

  test("HELO and EHLO without exactly one argument answer 501 and are not counted", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["HELO\r\nHELO a b\r\nEHLO\r\nEHLO a b\r\n"]), [
      GREETING,
      INVALID_ARGUMENT,
      INVALID_ARGUMENT,
      INVALID_ARGUMENT,
      INVALID_ARGUMENT,
    ]);
  });

  test("EHLO answers the EHLO list", () => {
    assert.deepEqual(talk(smtp(), ["EHLO client.example\r\n"]), [GREETING, EHLO_DEFAULT]);
  });

  test("AUTH without argument answers 501", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["AUTH\r\nAUTH\r\n"]), [GREETING, INVALID_ARGUMENT, INVALID_ARGUMENT]);
  });

  test("AUTH does not need HELO first, and the context says no HELO was given", () => {
    const run = check(smtp(), ["AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n"]);
    assert.deepEqual(authOf(run), {
      credentials: { method: "plain", user: "john", pass: "secret" },
      context: { smtpHelo: "", smtpEsmtp: false },
    });
  });

  test("MAIL without none in smtp_auth answers 530", () => {
    assert.deepEqual(talk(smtp(), ["MAIL FROM:<a@b>\r\n"]), [GREETING, "530 5.7.1 Authentication required\r\n"]);
  });

  test("MAIL with none stores the command and answers 250", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\n"]), [GREETING, OK]);
  });

  test("a second MAIL answers 503", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\nMAIL FROM:<c@d>\r\n"]), [GREETING, OK, BAD_SEQUENCE]);
  });

  test("MAIL without argument answers 501", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL\r\n"]), [GREETING, INVALID_ARGUMENT]);
  });

  test("RCPT without a stored MAIL answers 503", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["RCPT TO:<b@c>\r\n"]), [GREETING, BAD_SEQUENCE]);
    assert.deepEqual(talk(smtp(), ["RCPT TO:<b@c>\r\n"]), [GREETING, BAD_SEQUENCE]);
  });

  test("RCPT without argument answers 501", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\nRCPT\r\n"]), [GREETING, OK, INVALID_ARGUMENT]);
  });

  test("RCPT after MAIL authenticates with method none and the stored texts", () => {
    const run = check(smtp({ smtp_auth: ["none"] }), ["EHLO c.example\r\nMAIL FROM:<a@b> SIZE=10  \r\nRCPT  TO:<x@y>\r\n"]);
    assert.deepEqual(authOf(run), {
      credentials: {
        method: "none",
        user: "",
        pass: "",
        smtp: { helo: "c.example", from: "MAIL FROM:<a@b> SIZE=10", to: "RCPT  TO:<x@y>" },
      },
      context: { smtpHelo: "c.example", smtpEsmtp: true, smtpMail: "MAIL FROM:<a@b> SIZE=10", smtpRcpt: "RCPT  TO:<x@y>" },
    });
  });

  test("none mode without HELO sends an empty HELO", () => {
    const run = check(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<>\r\nRCPT TO:<x@y>\r\n"]);
    assert.deepEqual(authOf(run).credentials.smtp, { helo: "", from: "MAIL FROM:<>", to: "RCPT TO:<x@y>" });
  });

  test("RSET answers 250 and clears MAIL", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\nRSET\r\nRCPT TO:<x@y>\r\nMAIL FROM:<c@d>\r\n"]), [
      GREETING,
      OK,
      OK,
      BAD_SEQUENCE,
      OK,
    ]);
  });

  test("HELO and EHLO clear a stored MAIL", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\nHELO x\r\nRCPT TO:<x@y>\r\n"]), [
      GREETING,
      OK,
      "250 mx.example.com\r\n",
      BAD_SEQUENCE,
    ]);
  });

  test("NOOP answers 250", () => {
    assert.deepEqual(talk(smtp(), ["NOOP\r\n"]), [GREETING, OK]);
  });

  test("QUIT answers 221 and closes", () => {
    assert.deepEqual(talk(smtp(), ["QUIT\r\nNOOP\r\n"]), [GREETING, "221 2.0.0 Bye\r\n", "[close quit]"]);
  });

  test("VRFY, EXPN and HELP answer 500 and are not counted", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["VRFY a\r\nEXPN b\r\nHELP\r\nNOOP\r\n"]), [GREETING, INVALID, INVALID, INVALID, OK]);
  });

  test("pipelined commands in one packet run in order", () => {
    assert.deepEqual(talk(smtp({ smtp_auth: ["none"] }), ["EHLO a\r\nNOOP\r\nMAIL FROM:<a@b>\r\nRSET\r\nQUIT\r\n"]), [
      GREETING,
      "250 mx.example.com\r\n",
      OK,
      OK,
      OK,
      "221 2.0.0 Bye\r\n",
      "[close quit]",
    ]);
  });
});

describe("SMTP AUTH", () => {
  test("AUTH PLAIN without initial response gets an empty 334 prompt", () => {
    const run = check(smtp(), ["AUTH PLAIN\r\n", "AGpvaG4Ac2VjcmV0\r\n"]);
    assert.deepEqual(run.actions[1], { type: "send", data: "334 \r\n" });
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "john", pass: "secret" });
  });

  test("AUTH LOGIN prompts with 334 and reports Auth-Method plain", () => {
    const run = check(smtp(), ["EHLO client.example.org\r\n", "AUTH LOGIN\r\n", "am9obg==\r\n", "c2VjcmV0\r\n"]);
    assert.deepEqual(run.actions.slice(2, 4), [
      { type: "send", data: "334 VXNlcm5hbWU6\r\n" },
      { type: "send", data: "334 UGFzc3dvcmQ6\r\n" },
    ]);
    assert.deepEqual(authOf(run), {
      credentials: { method: "plain", user: "john", pass: "secret" },
      context: { smtpHelo: "client.example.org", smtpEsmtp: true },
    });
  });

  test("AUTH LOGIN with an initial user name goes to the password prompt", () => {
    const run = check(smtp(), ["AUTH LOGIN am9obg==\r\nc2VjcmV0\r\n"]);
    assert.deepEqual(run.actions[1], { type: "send", data: "334 UGFzc3dvcmQ6\r\n" });
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "john", pass: "secret" });
  });

  test("AUTH PLAIN and LOGIN work even when not listed in smtp_auth", () => {
    const run = check(smtp({ smtp_auth: ["none"] }), ["AUTH LOGIN am9obg==\r\nc2VjcmV0\r\n"]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "john", pass: "secret" });
  });

  test("AUTH CRAM-MD5 challenges with base64 of a salt made once per session", () => {
    const factory = smtp({ smtp_auth: ["cram-md5"] });
    const challenge = `334 ${encodeBase64(SALT)}\r\n`;
    assert.deepEqual(talk(factory, ["AUTH CRAM-MD5\r\n*\r\nAUTH CRAM-MD5\r\n"]), [GREETING, challenge, INVALID, challenge]);
    let made = 0;
    const counting = smtp({ smtp_auth: ["cram-md5"], makeSalt: () => `<${++made}.1@mx.example.com>` });
    const machine = counting();
    machine.greeting();
    assert.equal(made, 0, "no salt before the first CRAM-MD5");
    machine.feed("AUTH CRAM-MD5\r\n*\r\nAUTH CRAM-MD5\r\n");
    assert.equal(made, 1);
  });

  test("AUTH CRAM-MD5 reports user, digest and salt", () => {
    const response = encodeBase64("john 72e30c39468014b4d893e363313df45b");
    const run = check(smtp({ smtp_auth: ["cram-md5"] }), ["AUTH CRAM-MD5\r\n", `${response}\r\n`]);
    assert.deepEqual(authOf(run).credentials, {
      method: "cram-md5",
      user: "john",
      pass: "72e30c39468014b4d893e363313df45b",
      salt: SALT,
    });
  });

  test("CRAM-MD5 and EXTERNAL are refused unless listed", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["AUTH CRAM-MD5\r\nAUTH EXTERNAL\r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("AUTH EXTERNAL prompts for a user name when listed", () => {
    const run = check(smtp({ smtp_auth: ["external"] }), ["AUTH EXTERNAL\r\n", "\r\n"]);
    assert.deepEqual(run.actions[1], { type: "send", data: "334 VXNlcm5hbWU6\r\n" });
    assert.deepEqual(authOf(run).credentials, { method: "external", user: "", pass: "" });
  });

  test("a malformed XOAUTH2 payload and an OAUTHBEARER not listed are refused", () => {
    const factory = smtp({ smtp_auth: ["plain", "xoauth2"] });
    assert.deepEqual(talk(factory, ["EHLO a\r\nAUTH XOAUTH2 dG9r\r\nAUTH OAUTHBEARER\r\n"]), [
      GREETING,
      "250-mx.example.com\r\n250 AUTH PLAIN XOAUTH2\r\n",
      INVALID,
      INVALID,
    ]);
  });

  test("the cancel token * answers 500, not 501", () => {
    assert.deepEqual(talk(smtp(), ["AUTH LOGIN\r\n*\r\nNOOP\r\n"]), [GREETING, "334 VXNlcm5hbWU6\r\n", INVALID, OK]);
  });

  test("an unknown mechanism or extra arguments answer 500 and are not counted", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["AUTH GSSAPI\r\nAUTH PLAIN a b\r\nAUTH LOGIN a b\r\nNOOP\r\n"]), [
      GREETING,
      INVALID,
      INVALID,
      INVALID,
      OK,
    ]);
  });

  test("an auth failure answers 535 5.7.0 by default and keeps HELO", () => {
    const run = check(smtp(), ["EHLO c.example\r\nAUTH PLAIN AGpvaG4Ad3Jvbmc=\r\n", { authFailed: "Invalid login or password" }, "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n"]);
    assert.deepEqual(run.actions[3], { type: "send", data: "535 5.7.0 Invalid login or password\r\n" });
    const auths = run.actions.filter((a) => a.type === "auth");
    assert.deepEqual(auths[1], {
      type: "auth",
      credentials: { method: "plain", user: "john", pass: "secret" },
      context: { smtpHelo: "c.example", smtpEsmtp: true },
    });
  });

  test("an auth failure uses Auth-Error-Code when given", () => {
    assert.deepEqual(
      talk(smtp(), ["AUTH PLAIN AGpvaG4Ad3Jvbmc=\r\n", { authFailed: "Temporary server problem, try again later", code: "451 4.3.0" }]).slice(-1),
      ["451 4.3.0 Temporary server problem, try again later\r\n"],
    );
  });

  test("a none-mode failure keeps HELO and MAIL so RCPT can be retried", () => {
    const run = check(smtp({ smtp_auth: ["none"] }), [
      "HELO s.example\r\nMAIL FROM:<a@s.example>\r\nRCPT TO:<x@y>\r\n",
      { authFailed: "No such user", code: "550 5.1.1" },
      "RCPT TO:<bob@y>\r\n",
    ]);
    assert.deepEqual(run.actions[4], { type: "send", data: "550 5.1.1 No such user\r\n" });
    const second = run.actions.filter((a) => a.type === "auth")[1];
    assert.deepEqual(second, {
      type: "auth",
      credentials: { method: "none", user: "", pass: "", smtp: { helo: "s.example", from: "MAIL FROM:<a@s.example>", to: "RCPT TO:<bob@y>" } },
      context: { smtpHelo: "s.example", smtpEsmtp: false, smtpMail: "MAIL FROM:<a@s.example>", smtpRcpt: "RCPT TO:<bob@y>" },
    });
  });

  test("bytes after the authenticating command stay pending for the backend", () => {
    const run = check(smtp(), ["AUTH PLAIN AGpvaG4Ac2VjcmV0\r\nMAIL FROM:<j@e>\r\nRCPT TO:<x@y>\r\nDA", "TA\r\n"]);
    assert.equal(run.pending, "MAIL FROM:<j@e>\r\nRCPT TO:<x@y>\r\nDATA\r\n");
  });

  test("a syntax error inside an exchange aborts it and counts", () => {
    assert.deepEqual(talk(smtp({ max_errors: 1 }), ["AUTH LOGIN\r\nam9\robg==\r\n"]), [
      GREETING,
      "334 VXNlcm5hbWU6\r\n",
      INVALID,
      "[close too-many-errors]",
    ]);
  });
});

describe("SMTP starttls", () => {
  test("STARTTLS answers 220, discards pipelined bytes, and forgets HELO and MAIL", () => {
    const run = check(smtp({ starttls: "on", smtp_auth: ["plain", "none"] }), [
      "EHLO c.example\r\nMAIL FROM:<a@b>\r\nSTARTTLS\r\nRCPT TO:<injected@x>\r\n",
      { tlsStarted: true },
      "RCPT TO:<x@y>\r\nAUTH PLAIN AGpvaG4Ac2VjcmV0\r\n",
    ]);
    assert.deepEqual(run.actions.slice(2, 6), [
      { type: "send", data: OK },
      { type: "send", data: "220 2.0.0 Start TLS\r\n" },
      { type: "starttls" },
      { type: "send", data: BAD_SEQUENCE },
    ]);
    assert.deepEqual(authOf(run).context, { smtpHelo: "", smtpEsmtp: true });
  });

  test("STARTTLS is refused with starttls off, on implicit TLS and after TLS", () => {
    assert.deepEqual(talk(smtp({ starttls: "off", max_errors: 1 }), ["STARTTLS\r\n"]), [GREETING, INVALID]);
    assert.deepEqual(talk(smtp({ starttls: "on", implicitTls: true }), ["STARTTLS\r\n"]), [GREETING, INVALID]);
    assert.deepEqual(talk(smtp({ starttls: "on" }), ["STARTTLS\r\n", { tlsStarted: true }, "STARTTLS\r\n"]), [
      GREETING,
      "220 2.0.0 Start TLS\r\n",
      "[starttls]",
      INVALID,
    ]);
  });

  test("starttls only refuses AUTH, even without arguments, until TLS", () => {
    assert.deepEqual(talk(smtp({ starttls: "only" }), ["AUTH\r\nAUTH PLAIN AGpvaG4Ac2VjcmV0\r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("starttls only does not block MAIL and RCPT for smtp_auth none", () => {
    const run = check(smtp({ starttls: "only", smtp_auth: ["none"] }), ["MAIL FROM:<a@b>\r\nRCPT TO:<x@y>\r\n"]);
    assert.equal(authOf(run).credentials.method, "none");
  });

  test("EHLO changes with TLS under starttls on", () => {
    assert.deepEqual(talk(smtp({ starttls: "on" }), ["EHLO a\r\nSTARTTLS\r\n", { tlsStarted: true }, "EHLO a\r\n"]), [
      GREETING,
      "250-mx.example.com\r\n250-AUTH PLAIN LOGIN\r\n250 STARTTLS\r\n",
      "220 2.0.0 Start TLS\r\n",
      "[starttls]",
      EHLO_DEFAULT,
    ]);
  });
});

describe("SMTP max_errors", () => {
  test("the error reaching max_errors is answered, then the connection closes", () => {
    assert.deepEqual(talk(smtp({ max_errors: 2 }), ["DATA\r\nNOOP\r\nBDAT\r\nNOOP\r\n"]), [
      GREETING,
      INVALID,
      OK,
      INVALID,
      "[close too-many-errors]",
    ]);
  });
});

describe("SMTP session lines", () => {
  test("the session layer's lines are SMTP replies", () => {
    const machine = smtp()();
    assert.equal(machine.protocol, "smtp");
    assert.deepEqual(machine.lines, {
      internalError: "451 4.3.2 Internal server error\r\n",
      certError: "421 4.7.1 SSL certificate error\r\n",
      certRequired: "421 4.7.1 No required SSL certificate\r\n",
      shutdown: "421 4.3.2 Server shutting down\r\n",
      tooManyConnections: "421 4.7.0 Too many connections\r\n",
      tooManyFailures: { text: "Too many login failures, try again later", errorCode: "454 4.7.0" },
    });
  });
});

describe("SMTP robustness", () => {
  test("random client bytes never throw and every reply ends in CRLF", () => {
    const words = ["HELO", "EHLO", "AUTH", "MAIL", "RCPT", "RSET", "NOOP", "QUIT", "VRFY", "STARTTLS", "PLAIN", "LOGIN", "CRAM-MD5", "FROM:<a@b>"];
    fuzz(smtp({ smtp_auth: ["plain", "login", "cram-md5", "external", "none"], starttls: "on", max_errors: 50 }), words, 5321, 300);
    fuzz(smtp({ starttls: "only", smtp_client_buffer: 64, max_errors: 3 }), words, 7, 200);
  });
});
