import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Pop3Preauth, type Pop3PreauthOptions } from "../../../src/protocols/pop3/preauth.ts";
import { encodeBase64 } from "../../../src/wire/sasl.ts";
import type { Action } from "../../../src/protocols/types.ts";
import { authOf, check, fuzz, talk } from "../../support/preauth_script.ts";

const SALT = "<2128537493.1700000000@mail.example.com>";

function pop3(options: Partial<Pop3PreauthOptions> = {}): () => Pop3Preauth {
  return () =>
    new Pop3Preauth({
      pop3_auth: ["plain"],
      pop3_capabilities: ["TOP", "USER", "UIDL"],
      max_errors: 5,
      starttls: "off",
      server_name: "mail.example.com",
      implicitTls: false,
      makeSalt: () => SALT,
      ...options,
    });
}

const GREETING = "+OK POP3 ready\r\n";
const OK = "+OK\r\n";
const INVALID = "-ERR invalid command\r\n";
const PLAIN_CAPA = "+OK Capability list follows\r\nTOP\r\nUSER\r\nUIDL\r\nSASL PLAIN LOGIN\r\n.\r\n";

describe("POP3 greeting", () => {
  test("without apop or cram-md5 the greeting has no salt", () => {
    assert.deepEqual(talk(pop3(), []), [GREETING]);
  });

  test("apop adds the session salt to the greeting", () => {
    assert.deepEqual(talk(pop3({ pop3_auth: ["plain", "apop"] }), []), [`+OK POP3 ready ${SALT}\r\n`]);
  });

  test("cram-md5 adds the session salt to the greeting", () => {
    assert.deepEqual(talk(pop3({ pop3_auth: ["cram-md5"] }), []), [`+OK POP3 ready ${SALT}\r\n`]);
  });

  test("the default salt is <random.time@server_name>", () => {
    const machine = new Pop3Preauth({
      pop3_auth: ["apop"],
      pop3_capabilities: [],
      max_errors: 5,
      starttls: "off",
      server_name: "mail.example.com",
      implicitTls: false,
    });
    assert.match(render0(machine.greeting()), /^\+OK POP3 ready <\d{1,10}\.\d+@mail\.example\.com>\r\n$/);
  });
});

describe("POP3 command syntax", () => {
  for (const word of ["STAT", "LIST", "UIDL", "TOP 1 2", "RETR 1", "XCLIENT ADDR=1.2.3.4", "USR x", "USERS x", ""]) {
    test(`"${word}" is a counted syntax error`, () => {
      const factory = pop3({ max_errors: 2 });
      assert.deepEqual(talk(factory, [`${word}\r\n`]), [GREETING, INVALID]);
      assert.deepEqual(talk(factory, [`${word}\r\n${word}\r\n`]), [GREETING, INVALID, INVALID, "[close too-many-errors]"]);
    });
  }

  test("command words are case-insensitive", () => {
    assert.deepEqual(talk(pop3(), ["noop\r\nUsEr alice\r\nnOoP\r\n"]), [GREETING, OK, OK, OK]);
  });

  test("a command word with a non-letter is a syntax error", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["NO0P\r\n"]), [GREETING, INVALID, "[close too-many-errors]"]);
  });

  test("a latin1 letter that upper-cases to ASCII does not make a command word", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["USER a\r\nPA\xdf x\r\n"]), [GREETING, OK, INVALID, "[close too-many-errors]"]);
  });

  test("USER keeps inner and trailing spaces of its argument, and PASS too", () => {
    const run = check(pop3(), ["USER   john doe  \r\nPASS  se cret \r\n"]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "john doe  ", pass: "se cret " });
  });

  test("a 4th argument is a counted syntax error, a 3rd only a rejection", () => {
    const factory = pop3({ pop3_auth: ["apop"], max_errors: 2 });
    const greeting = `+OK POP3 ready ${SALT}\r\n`;
    assert.deepEqual(talk(factory, ["APOP a b c\r\nAPOP a b c\r\nAPOP a b c\r\n"]), [greeting, INVALID, INVALID, INVALID]);
    assert.deepEqual(talk(factory, ["APOP a b c d\r\nAPOP a b c d\r\n"]), [greeting, INVALID, INVALID, "[close too-many-errors]"]);
  });

  test("a CR without LF makes the line a counted syntax error", () => {
    assert.deepEqual(talk(pop3({ max_errors: 2 }), ["NOOP\rX\r\nUSER a\rb\r\n"]), [GREETING, INVALID, INVALID, "[close too-many-errors]"]);
  });

  test("bare LF line ends are accepted", () => {
    assert.deepEqual(talk(pop3(), ["NOOP\nCAPA\n"]), [GREETING, OK, PLAIN_CAPA]);
  });

  test("a 128-byte command including CRLF is accepted", () => {
    const user = "u".repeat(128 - "USER \r\n".length);
    const run = check(pop3(), [`USER ${user}\r\nPASS x\r\n`]);
    assert.equal(authOf(run).credentials.user, user);
  });

  test("a 129-byte command is answered as invalid and closes the connection", () => {
    const user = "u".repeat(129 - "USER \r\n".length);
    assert.deepEqual(talk(pop3(), [`USER ${user}\r\n`]), [GREETING, INVALID, "[close too-long]"]);
  });

  test("128 bytes without a line end close the connection before the line ends", () => {
    assert.deepEqual(talk(pop3(), ["A".repeat(128)]), [GREETING, INVALID, "[close too-long]"]);
    assert.deepEqual(talk(pop3(), ["A".repeat(127)]), [GREETING]);
  });

  test("a too-long command does not count toward max_errors", () => {
    assert.deepEqual(talk(pop3({ max_errors: 2 }), ["STAT\r\n", "x".repeat(200)]), [GREETING, INVALID, INVALID, "[close too-long]"]);
  });

  test("a long AUTH PLAIN initial response does not fit in 128 bytes", () => {
    const ir = encodeBase64(`\0${"u".repeat(60)}\0${"p".repeat(60)}`);
    assert.deepEqual(talk(pop3(), [`AUTH PLAIN ${ir}\r\n`]), [GREETING, INVALID, "[close too-long]"]);
  });
});

describe("POP3 initial state", () => {
  test("USER with one argument answers +OK", () => {
    assert.deepEqual(talk(pop3(), ["USER alice\r\n"]), [GREETING, OK]);
  });

  test("USER without argument is rejected and not counted", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["USER\r\nUSER   \r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("PASS before USER is rejected and not counted", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["PASS secret\r\nPASS secret\r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("APOP with apop enabled authenticates with the digest and the greeting salt", () => {
    const run = check(pop3({ pop3_auth: ["plain", "apop"] }), ["APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"]);
    assert.deepEqual(authOf(run), {
      credentials: { method: "apop", user: "alice", pass: "c4c9334bac560ecc979e58001b3e22fb", salt: SALT },
      context: {},
    });
  });

  test("APOP passes through the RFC 1939 example digest for its timestamp", () => {
    const timestamp = "<1896.697170952@dbc.mtview.ca.us>";
    const digest = createHash("md5").update(timestamp + "tanstaaf").digest("hex");
    assert.equal(digest, "c4c9334bac560ecc979e58001b3e22fb");
    const factory = pop3({ pop3_auth: ["apop"], makeSalt: () => timestamp });
    const run = check(factory, [`APOP mrose ${digest}\r\n`]);
    assert.deepEqual(render0(run.actions), `+OK POP3 ready ${timestamp}\r\n`);
    assert.deepEqual(authOf(run).credentials, { method: "apop", user: "mrose", pass: digest, salt: timestamp });
  });

  test("APOP is rejected when apop is not enabled", () => {
    assert.deepEqual(talk(pop3(), ["APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"]), [GREETING, INVALID]);
  });

  test("APOP needs exactly two arguments", () => {
    const greeting = `+OK POP3 ready ${SALT}\r\n`;
    assert.deepEqual(talk(pop3({ pop3_auth: ["apop"] }), ["APOP alice\r\nAPOP\r\n"]), [greeting, INVALID, INVALID]);
  });

  test("AUTH without argument lists PLAIN and LOGIN for plain", () => {
    assert.deepEqual(talk(pop3(), ["AUTH\r\n"]), [GREETING, "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n"]);
  });

  test("the AUTH listing follows pop3_auth in fixed order", () => {
    const factory = pop3({ pop3_auth: ["external", "apop", "cram-md5", "plain"] });
    assert.deepEqual(talk(factory, ["AUTH\r\n"])[1], "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\nEXTERNAL\r\n.\r\n");
  });

  test("the AUTH listing is empty with apop only", () => {
    assert.deepEqual(talk(pop3({ pop3_auth: ["apop"] }), ["AUTH\r\n"])[1], "+OK methods supported:\r\n.\r\n");
  });

  test("the AUTH listing appends XOAUTH2 and OAUTHBEARER when listed", () => {
    const factory = pop3({ pop3_auth: ["oauthbearer", "plain", "xoauth2"] });
    assert.deepEqual(talk(factory, ["AUTH\r\n"])[1], "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nXOAUTH2\r\nOAUTHBEARER\r\n.\r\n");
  });

  test("AUTH PLAIN with an initial response authenticates at once", () => {
    const run = check(pop3(), ["AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"]);
    assert.deepEqual(render0(run.actions), GREETING);
    assert.deepEqual(authOf(run), { credentials: { method: "plain", user: "alice", pass: "secret" }, context: {} });
  });

  test("AUTH PLAIN without initial response gets an empty + prompt", () => {
    const run = check(pop3(), ["AUTH PLAIN\r\n", "AGFsaWNlAHNlY3JldA==\r\n"]);
    assert.equal((run.actions[1] as { data: string }).data, "+ \r\n");
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("AUTH LOGIN prompts for user name and password", () => {
    const run = check(pop3(), ["auth login\r\n", "YWxpY2U=\r\n", "c2VjcmV0\r\n"]);
    assert.deepEqual(run.actions.slice(1, 3), [
      { type: "send", data: "+ VXNlcm5hbWU6\r\n" },
      { type: "send", data: "+ UGFzc3dvcmQ6\r\n" },
    ]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("AUTH LOGIN with an initial response goes straight to the password prompt", () => {
    const run = check(pop3(), ["AUTH LOGIN YWxpY2U=\r\nc2VjcmV0\r\n"]);
    assert.deepEqual(run.actions[1], { type: "send", data: "+ UGFzc3dvcmQ6\r\n" });
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("AUTH LOGIN uses only the first token of a continuation line", () => {
    const run = check(pop3(), ["AUTH LOGIN\r\nYWxpY2U= trailing words\r\nc2VjcmV0 x\r\n"]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("AUTH PLAIN and LOGIN work even when plain is not in pop3_auth", () => {
    const run = check(pop3({ pop3_auth: ["apop"] }), ["AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("AUTH CRAM-MD5 challenges with the base64 of the greeting salt", () => {
    const factory = pop3({ pop3_auth: ["plain", "cram-md5"] });
    const response = encodeBase64("alice 72e30c39468014b4d893e363313df45b");
    const run = check(factory, ["AUTH CRAM-MD5\r\n", `${response}\r\n`]);
    assert.deepEqual(run.actions[1], { type: "send", data: `+ ${encodeBase64(SALT)}\r\n` });
    assert.deepEqual(authOf(run).credentials, {
      method: "cram-md5",
      user: "alice",
      pass: "72e30c39468014b4d893e363313df45b",
      salt: SALT,
    });
  });

  test("AUTH CRAM-MD5 is rejected when not enabled", () => {
    assert.deepEqual(talk(pop3(), ["AUTH CRAM-MD5\r\n"]), [GREETING, INVALID]);
  });

  test("AUTH CRAM-MD5 with an initial response is rejected", () => {
    const greeting = `+OK POP3 ready ${SALT}\r\n`;
    assert.deepEqual(talk(pop3({ pop3_auth: ["cram-md5"] }), ["AUTH CRAM-MD5 eA==\r\n"]), [greeting, INVALID]);
  });

  test("a CRAM-MD5 digest that is not 32 characters is rejected", () => {
    const greeting = `+OK POP3 ready ${SALT}\r\n`;
    const short = encodeBase64("alice 72e30c");
    assert.deepEqual(talk(pop3({ pop3_auth: ["cram-md5"] }), [`AUTH CRAM-MD5\r\n${short}\r\n`]), [
      greeting,
      `+ ${encodeBase64(SALT)}\r\n`,
      INVALID,
    ]);
  });

  test("AUTH EXTERNAL prompts for a user name when enabled", () => {
    const run = check(pop3({ pop3_auth: ["external"] }), ["AUTH EXTERNAL\r\n", "YWxpY2U=\r\n"]);
    assert.deepEqual(run.actions[1], { type: "send", data: "+ VXNlcm5hbWU6\r\n" });
    assert.deepEqual(authOf(run).credentials, { method: "external", user: "alice", pass: "" });
  });

  test("AUTH EXTERNAL with an initial response authenticates at once", () => {
    const run = check(pop3({ pop3_auth: ["external"] }), ["AUTH EXTERNAL YWxpY2U=\r\n"]);
    assert.deepEqual(authOf(run).credentials, { method: "external", user: "alice", pass: "" });
  });

  test("AUTH EXTERNAL is rejected when not enabled", () => {
    assert.deepEqual(talk(pop3(), ["AUTH EXTERNAL\r\n"]), [GREETING, INVALID]);
  });

  test("a malformed XOAUTH2 payload and an OAUTHBEARER not listed are rejected", () => {
    const factory = pop3({ pop3_auth: ["plain", "xoauth2"] });
    assert.deepEqual(talk(factory, ["AUTH XOAUTH2 dG9rZW4=\r\nAUTH OAUTHBEARER\r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("an unknown mechanism is rejected and not counted", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["AUTH GSSAPI\r\nAUTH DIGEST-MD5\r\n"]), [GREETING, INVALID, INVALID]);
  });

  test("AUTH PLAIN with two extra arguments is rejected", () => {
    assert.deepEqual(talk(pop3(), ["AUTH PLAIN AGFsaWNlAHNlY3JldA== x\r\n"]), [GREETING, INVALID]);
  });

  test("bad base64 aborts the exchange and returns to the initial state", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["AUTH PLAIN\r\n!!!!\r\nNOOP\r\n"]), [GREETING, "+ \r\n", INVALID, OK]);
  });

  test("the cancel token * is not special and gets the invalid-command line", () => {
    assert.deepEqual(talk(pop3(), ["AUTH LOGIN\r\n*\r\n"]), [GREETING, "+ VXNlcm5hbWU6\r\n", INVALID]);
  });

  test("a PLAIN payload without both NULs is rejected", () => {
    assert.deepEqual(talk(pop3(), [`AUTH PLAIN ${encodeBase64("alice\0secret")}\r\n`]), [GREETING, INVALID]);
  });

  test("a syntax error inside an exchange aborts it and is counted", () => {
    assert.deepEqual(talk(pop3({ max_errors: 1 }), ["AUTH LOGIN\r\nYWxp\rY2U=\r\n"]), [
      GREETING,
      "+ VXNlcm5hbWU6\r\n",
      INVALID,
      "[close too-many-errors]",
    ]);
  });

  test("NOOP answers +OK", () => {
    assert.deepEqual(talk(pop3(), ["NOOP\r\n"]), [GREETING, OK]);
  });

  test("QUIT answers +OK and closes", () => {
    assert.deepEqual(talk(pop3(), ["QUIT\r\nNOOP\r\n"]), [GREETING, OK, "[close quit]"]);
  });
});

describe("POP3 starttls", () => {
  test("starttls only blocks USER, APOP, AUTH and the AUTH listing before TLS", () => {
    const factory = pop3({ starttls: "only", pop3_auth: ["plain", "apop"], max_errors: 1 });
    const greeting = `+OK POP3 ready ${SALT}\r\n`;
    assert.deepEqual(
      talk(factory, ["USER alice\r\nAPOP alice c4c9334bac560ecc979e58001b3e22fb\r\nAUTH\r\nAUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"]),
      [greeting, INVALID, INVALID, INVALID, INVALID],
    );
  });

  test("STLS answers +OK, discards bytes sent behind it and does not greet again", () => {
    const run = check(pop3({ starttls: "on" }), ["STLS\r\nUSER injected\r\n", { tlsStarted: true }, "USER alice\r\nPASS secret\r\n"]);
    assert.deepEqual(run.actions.slice(0, 4), [
      { type: "send", data: GREETING },
      { type: "send", data: OK },
      { type: "starttls" },
      { type: "send", data: OK },
    ]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("plaintext fed before the handshake completes is discarded", () => {
    const run = check(pop3({ starttls: "on" }), ["STLS\r\n", "USER injected\r\n", { tlsStarted: true }, "PASS x\r\n"]);
    assert.deepEqual(run.actions.slice(-1), [{ type: "send", data: INVALID }]);
  });

  test("after STLS the CAPA list has no STLS and STLS is refused", () => {
    assert.deepEqual(talk(pop3({ starttls: "on" }), ["STLS\r\n", { tlsStarted: true }, "CAPA\r\nSTLS\r\n"]), [
      GREETING,
      OK,
      "[starttls]",
      PLAIN_CAPA,
      INVALID,
    ]);
  });

  test("starttls only allows USER after STLS", () => {
    assert.deepEqual(talk(pop3({ starttls: "only" }), ["STLS\r\n", { tlsStarted: true }, "USER alice\r\n"]), [
      GREETING,
      OK,
      "[starttls]",
      OK,
    ]);
  });

  test("STLS is refused with starttls off", () => {
    assert.deepEqual(talk(pop3({ starttls: "off", max_errors: 1 }), ["STLS\r\n"]), [GREETING, INVALID]);
  });

  test("STLS is refused on an implicit TLS listener", () => {
    assert.deepEqual(talk(pop3({ starttls: "on", implicitTls: true }), ["STLS\r\n"]), [GREETING, INVALID]);
  });

  test("an implicit TLS listener with starttls only accepts USER at once", () => {
    assert.deepEqual(talk(pop3({ starttls: "only", implicitTls: true }), ["USER alice\r\n"]), [GREETING, OK]);
  });
});

describe("POP3 after USER", () => {
  test("PASS with one argument authenticates with Auth-Method plain", () => {
    const run = check(pop3(), ["USER alice\r\nPASS secret\r\n"]);
    assert.deepEqual(authOf(run), { credentials: { method: "plain", user: "alice", pass: "secret" }, context: {} });
  });

  test("PASS without argument is rejected and the user must be sent again", () => {
    assert.deepEqual(talk(pop3(), ["USER alice\r\nPASS\r\nPASS secret\r\n"]), [GREETING, OK, INVALID, INVALID]);
  });

  test("CAPA after USER shows the list without STLS", () => {
    assert.deepEqual(talk(pop3({ starttls: "on" }), ["USER alice\r\nCAPA\r\n"]), [GREETING, OK, PLAIN_CAPA]);
    assert.deepEqual(talk(pop3({ starttls: "only" }), ["STLS\r\n", { tlsStarted: true }, "USER a\r\nCAPA\r\n"]).slice(-1), [PLAIN_CAPA]);
  });

  test("NOOP keeps the user", () => {
    const run = check(pop3(), ["USER alice\r\nNOOP\r\nPASS secret\r\n"]);
    assert.deepEqual(authOf(run).credentials.user, "alice");
  });

  test("QUIT answers +OK and closes", () => {
    assert.deepEqual(talk(pop3(), ["USER alice\r\nQUIT\r\n"]), [GREETING, OK, OK, "[close quit]"]);
  });

  for (const command of ["USER bob", "APOP alice c4c9334bac560ecc979e58001b3e22fb", "AUTH", "AUTH PLAIN", "STLS"]) {
    test(`${command.split(" ")[0]} after USER is rejected and forgets the user`, () => {
      const factory = pop3({ pop3_auth: ["plain", "apop"], starttls: "on", max_errors: 1 });
      const greeting = `+OK POP3 ready ${SALT}\r\n`;
      assert.deepEqual(talk(factory, [`USER alice\r\n${command}\r\nPASS secret\r\n`]), [greeting, OK, INVALID, INVALID]);
    });
  }

  test("a syntax error after USER forgets the user", () => {
    assert.deepEqual(talk(pop3(), ["USER alice\r\nSTAT\r\nPASS secret\r\n"]), [GREETING, OK, INVALID, INVALID]);
  });
});

describe("POP3 authentication outcome", () => {
  test("an auth failure answers -ERR with the Auth-Status text", () => {
    assert.deepEqual(talk(pop3(), ["USER john\r\nPASS wrong\r\n", { authFailed: "Invalid login or password" }]), [
      GREETING,
      OK,
      "[auth plain]",
      "-ERR Invalid login or password\r\n",
    ]);
  });

  test("after a delayed failure the user must be sent again", () => {
    assert.deepEqual(talk(pop3(), ["USER john\r\nPASS wrong\r\n", { authFailed: "Nope" }, "PASS again\r\n"]).slice(-1), [INVALID]);
  });

  test("commands sent while the auth service is asked wait, then run after a delayed failure", () => {
    assert.deepEqual(talk(pop3(), ["USER john\r\nPASS wrong\r\nNOOP\r\nUSER john\r\n", { authFailed: "Nope" }]), [
      GREETING,
      OK,
      "[auth plain]",
      "-ERR Nope\r\n",
      OK,
      OK,
    ]);
  });

  test("bytes after the authenticating command stay pending for the backend", () => {
    const run = check(pop3(), ["USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\n", "RETR 1\r\n"]);
    assert.equal(run.pending, "STAT\r\nLIST\r\nRETR 1\r\n");
    assert.equal(run.machine.takePending(), "");
  });

  test("pipelined commands run in order", () => {
    assert.deepEqual(talk(pop3(), ["CAPA\r\nNOOP\r\nAUTH\r\nUSER a\r\n"]), [
      GREETING,
      PLAIN_CAPA,
      OK,
      "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\n.\r\n",
      OK,
    ]);
  });
});

describe("POP3 max_errors", () => {
  test("the error reaching max_errors is answered, then the connection closes", () => {
    assert.deepEqual(talk(pop3({ max_errors: 3 }), ["STAT\r\nLIST\r\nUIDL\r\nNOOP\r\n"]), [
      GREETING,
      INVALID,
      INVALID,
      INVALID,
      "[close too-many-errors]",
    ]);
  });

  test("rejections of known commands are not counted", () => {
    const input = "PASS x\r\n".repeat(3) + "USER\r\n".repeat(3) + "AUTH FOO\r\n".repeat(3) + "NOOP\r\n";
    assert.deepEqual(talk(pop3({ max_errors: 1 }), [input]).slice(-2), [INVALID, OK]);
  });

  test("syntax errors are counted across the session, also after successful commands", () => {
    assert.deepEqual(talk(pop3({ max_errors: 2 }), ["STAT\r\nNOOP\r\nLIST\r\n"]), [GREETING, INVALID, OK, INVALID, "[close too-many-errors]"]);
  });
});

describe("POP3 session lines", () => {
  test("the session layer's lines are POP3 errors", () => {
    assert.deepEqual(pop3()().lines, {
      internalError: "-ERR internal server error\r\n",
      certError: "-ERR SSL certificate error\r\n",
      certRequired: "-ERR No required SSL certificate\r\n",
      shutdown: "-ERR Server shutting down\r\n",
      tooManyConnections: "-ERR Too many connections\r\n",
      tooManyFailures: { text: "[SYS/TEMP] Too many login failures, try again later" },
    });
    assert.equal(pop3()().protocol, "pop3");
  });
});

describe("POP3 robustness", () => {
  test("random client bytes never throw and every reply ends in CRLF", () => {
    const words = ["USER", "PASS", "APOP", "QUIT", "CAPA", "AUTH", "NOOP", "STLS", "PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL"];
    fuzz(pop3({ pop3_auth: ["plain", "apop", "cram-md5", "external"], starttls: "on", max_errors: 50 }), words, 1939, 300);
    fuzz(pop3({ starttls: "only", max_errors: 3 }), words, 42, 200);
  });
});

/** The first action's bytes. */
function render0(actions: readonly Action[]): string {
  const first = actions[0];
  assert.equal(first.type, "send");
  return (first as Extract<Action, { type: "send" }>).data;
}
