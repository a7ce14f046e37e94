import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ImapBackendLogin } from "../../../src/protocols/imap/backend_login.ts";

const GREETING = "* OK [CAPABILITY IMAP4rev1 LITERAL+] Dovecot ready.\r\n";

/** A login already past the greeting and both literal continuations. */
function atPassword(tag = "a2 ", user = "john", pass = "secret"): ImapBackendLogin {
  const login = new ImapBackendLogin(tag, user, pass);
  login.onReply(GREETING);
  login.onReply("+ OK\r\n");
  login.onReply("+ OK\r\n");
  return login;
}

describe("IMAP backend login (§6.3)", () => {
  test("the §3.5 dialogue: LOGIN with two synchronising literals and the client's tag", () => {
    const login = new ImapBackendLogin("a2 ", "john", 'pa ss"word');
    assert.deepEqual(login.onReply(GREETING), { type: "send", data: "a2 LOGIN {4}\r\n" });
    assert.deepEqual(login.onReply("+ OK\r\n"), { type: "send", data: "john {10}\r\n" });
    assert.deepEqual(login.onReply("+ OK\r\n"), { type: "send", data: 'pa ss"word\r\n' });
    assert.deepEqual(login.onReply("a2 OK [CAPABILITY IMAP4rev1 ...] Logged in\r\n"), {
      type: "done",
      toClient: "a2 OK [CAPABILITY IMAP4rev1 ...] Logged in\r\n",
    });
  });

  test("literal lengths are byte lengths of the binary strings", () => {
    const user = Buffer.from("пётр", "utf8").toString("latin1");
    const pass = Buffer.from("пароль", "utf8").toString("latin1");
    const login = new ImapBackendLogin("x ", user, pass);
    assert.deepEqual(login.onReply("* OK ready\r\n"), { type: "send", data: "x LOGIN {8}\r\n" });
    assert.deepEqual(login.onReply("+ go ahead\r\n"), { type: "send", data: `${user} {12}\r\n` });
    assert.deepEqual(login.onReply("+\r\n"), { type: "send", data: `${pass}\r\n` });
  });

  test("empty user name and password give {0} literals", () => {
    const login = new ImapBackendLogin("a1 ", "", "");
    assert.deepEqual(login.onReply("* OK\r\n"), { type: "send", data: "a1 LOGIN {0}\r\n" });
    assert.deepEqual(login.onReply("+ OK\r\n"), { type: "send", data: " {0}\r\n" });
    assert.deepEqual(login.onReply("+ OK\r\n"), { type: "send", data: "\r\n" });
  });

  test("one untagged line before the tagged OK is tolerated and forwarded", () => {
    const reply = "* CAPABILITY IMAP4rev1 IDLE\r\na2 OK Logged in\r\n";
    assert.deepEqual(atPassword().onReply(reply), { type: "done", toClient: reply });
  });

  test("an untagged line arriving on its own is held until the tagged OK", () => {
    const login = atPassword();
    assert.deepEqual(login.onReply("* CAPABILITY IMAP4rev1 IDLE\r\n"), { type: "wait" });
    assert.deepEqual(login.onReply("a2 OK Logged in\r\n"), {
      type: "done",
      toClient: "* CAPABILITY IMAP4rev1 IDLE\r\na2 OK Logged in\r\n",
    });
  });

  test("a second untagged line fails with everything received", () => {
    const login = atPassword();
    login.onReply("* ONE\r\n");
    assert.deepEqual(login.onReply("* TWO\r\na2 OK Logged in\r\n"), {
      type: "fail",
      reply: "* ONE\r\n* TWO\r\na2 OK Logged in\r\n",
      reason: "upstream sent invalid response",
    });
  });

  test("a tagged NO is a failure that keeps the backend's reply for proxy_pass_error_message", () => {
    const reply = "a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n";
    assert.deepEqual(atPassword().onReply(reply), { type: "fail", reply, reason: "upstream sent invalid response" });
  });

  test("an OK with another tag is a failure", () => {
    assert.equal(atPassword("a2 ").onReply("a22 OK Logged in\r\n").type, "fail");
  });

  test("a BYE or PREAUTH greeting fails with the greeting as the reply", () => {
    for (const greeting of ["* BYE Too many connections\r\n", "* PREAUTH ready\r\n"]) {
      assert.deepEqual(new ImapBackendLogin("a1 ", "john", "x").onReply(greeting), {
        type: "fail",
        reply: greeting,
        reason: "upstream sent invalid response",
      });
    }
  });

  test("anything but + to a literal fails", () => {
    const login = new ImapBackendLogin("a1 ", "john", "x");
    login.onReply("* OK\r\n");
    assert.deepEqual(login.onReply("a1 BAD literal\r\n"), {
      type: "fail",
      reply: "a1 BAD literal\r\n",
      reason: "upstream sent invalid response",
    });
    const second = new ImapBackendLogin("a1 ", "john", "x");
    second.onReply("* OK\r\n");
    second.onReply("+ OK\r\n");
    assert.equal(second.onReply("a1 NO\r\n").type, "fail");
  });
});
