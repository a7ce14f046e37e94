/** The POP3 transcripts of protocols.md §4.5 and §9, client side and backend side. */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { Pop3Preauth, type Pop3PreauthOptions } from "../../../src/protocols/pop3/preauth.ts";
import { Pop3BackendLogin } from "../../../src/protocols/pop3/backend_login.ts";
import { authOf, check, talk } from "../../support/preauth_script.ts";

function pop3(options: Partial<Pop3PreauthOptions> = {}): () => Pop3Preauth {
  return () =>
    new Pop3Preauth({
      pop3_auth: ["plain"],
      pop3_capabilities: ["TOP", "USER", "UIDL"],
      max_errors: 5,
      starttls: "off",
      server_name: "mail.example.com",
      implicitTls: false,
      makeSalt: () => "<2128537493.1700000000@mail.example.com>",
      ...options,
    });
}

describe("POP3 transcripts", () => {
  test("USER/PASS success: CAPA, USER, PASS, then the backend dialogue", () => {
    const run = check(pop3(), ["CAPA\r\n", "USER alice\r\n", "PASS secret\r\n"]);
    assert.deepEqual(run.actions.filter((a) => a.type === "send").map((a) => a.data).join(""), [
      "+OK POP3 ready",
      "+OK Capability list follows",
      "TOP",
      "USER",
      "UIDL",
      "SASL PLAIN LOGIN",
      ".",
      "+OK",
      "",
    ].join("\r\n"));
    const { credentials } = authOf(run);
    const login = new Pop3BackendLogin(credentials.user, credentials.pass);
    assert.deepEqual(login.onReply("+OK Dovecot ready.\r\n"), { type: "send", data: "USER alice\r\n" });
    assert.deepEqual(login.onReply("+OK\r\n"), { type: "send", data: "PASS secret\r\n" });
    assert.deepEqual(login.onReply("+OK Logged in.\r\n"), { type: "done", toClient: "+OK Logged in.\r\n" });
  });

  test("APOP: the greeting timestamp is the salt and the backend gets the auth server's password", () => {
    const run = check(pop3({ pop3_auth: ["plain", "apop"] }), ["APOP alice c4c9334bac560ecc979e58001b3e22fb\r\n"]);
    assert.deepEqual(run.actions[0], { type: "send", data: "+OK POP3 ready <2128537493.1700000000@mail.example.com>\r\n" });
    assert.deepEqual(authOf(run).credentials, {
      method: "apop",
      user: "alice",
      pass: "c4c9334bac560ecc979e58001b3e22fb",
      salt: "<2128537493.1700000000@mail.example.com>",
    });
    const login = new Pop3BackendLogin("alice", "plaintext");
    login.onReply("+OK\r\n");
    assert.deepEqual(login.onReply("+OK\r\n"), { type: "send", data: "PASS plaintext\r\n" });
  });

  test("STLS, no new greeting, then AUTH PLAIN with initial response", () => {
    const run = check(pop3({ starttls: "on" }), ["STLS\r\n", { tlsStarted: true }, "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n"]);
    assert.deepEqual(run.actions.map((a) => a.type), ["send", "send", "starttls", "auth"]);
    assert.deepEqual(authOf(run).credentials, { method: "plain", user: "alice", pass: "secret" });
  });

  test("auth server rejects without Auth-Wait: -ERR with the text (the session then closes)", () => {
    assert.deepEqual(talk(pop3(), ["USER john\r\n", "PASS wrong\r\n", { authFailed: "Invalid login or password" }]), [
      "+OK POP3 ready\r\n",
      "+OK\r\n",
      "[auth plain]",
      "-ERR Invalid login or password\r\n",
    ]);
  });
});
