import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pop3BackendLogin } from "../../../src/protocols/pop3/backend_login.ts";
import type { BackendLogin, BackendStep } from "../../../src/protocols/types.ts";

/** Feed backend replies in order; collect what the proxy sends and the final step. */
function dialogue(login: BackendLogin, replies: string[]): { sent: string[]; last: BackendStep } {
  const sent: string[] = [];
  let last: BackendStep | undefined;
  for (const reply of replies) {
    last = login.onReply(reply);
    if (last.type === "send") sent.push(last.data);
  }
  return { sent, last: last! };
}

describe("POP3 backend login", () => {
  test("USER then PASS, and the backend's PASS reply goes to the client", () => {
    const { sent, last } = dialogue(new Pop3BackendLogin("alice", "secret"), [
      "+OK Dovecot ready.\r\n",
      "+OK\r\n",
      "+OK Logged in.\r\n",
    ]);
    assert.deepEqual(sent, ["USER alice\r\n", "PASS secret\r\n"]);
    assert.deepEqual(last, { type: "done", toClient: "+OK Logged in.\r\n" });
  });

  test("user names and passwords are sent byte-exact, spaces included", () => {
    const { sent } = dialogue(new Pop3BackendLogin("john doe", "p\xe4ss word"), ["+OK\r\n", "+OK\r\n"]);
    assert.deepEqual(sent, ["USER john doe\r\n", "PASS p\xe4ss word\r\n"]);
  });

  test("a greeting other than +OK fails with the backend's reply", () => {
    const { sent, last } = dialogue(new Pop3BackendLogin("alice", "secret"), ["-ERR too many connections\r\n"]);
    assert.deepEqual(sent, []);
    assert.deepEqual(last, { type: "fail", reply: "-ERR too many connections\r\n", reason: "upstream sent invalid response" });
  });

  test("a refused USER fails with the backend's reply", () => {
    const { last } = dialogue(new Pop3BackendLogin("alice", "secret"), ["+OK\r\n", "-ERR no such user\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "-ERR no such user\r\n", reason: "upstream sent invalid response" });
  });

  test("a refused PASS keeps the backend's reply for proxy_pass_error_message", () => {
    const { last } = dialogue(new Pop3BackendLogin("alice", "secret"), ["+OK\r\n", "+OK\r\n", "-ERR [IN-USE] Mailbox locked\r\n"]);
    assert.deepEqual(last, { type: "fail", reply: "-ERR [IN-USE] Mailbox locked\r\n", reason: "upstream sent invalid response" });
  });

  test("only the start of the reply is checked", () => {
    const { last } = dialogue(new Pop3BackendLogin("a", "b"), ["+OKAY\r\n", "+OK\r\n", "+OK fine\r\n"]);
    assert.deepEqual(last, { type: "done", toClient: "+OK fine\r\n" });
  });

  test("a reply after the dialogue finished is a failure", () => {
    const { last } = dialogue(new Pop3BackendLogin("a", "b"), ["+OK\r\n", "+OK\r\n", "+OK\r\n", "+OK\r\n"]);
    assert.equal(last.type, "fail");
  });
});
