import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { advertisedMechanisms, anySalted, mechanismAccepted, methodsOf, yieldOf } from "../../src/protocols/mechanisms.ts";
import { DIRECTIVES } from "../../src/config/directives.ts";

describe("the mechanism table", () => {
  test("each *_auth directive accepts exactly the table's methods for its protocol", () => {
    assert.deepEqual(methodsOf("imap"), ["plain", "login", "cram-md5", "external", "xoauth2", "oauthbearer"]);
    assert.deepEqual(methodsOf("pop3"), ["plain", "apop", "cram-md5", "external", "xoauth2", "oauthbearer"]);
    assert.deepEqual(methodsOf("smtp"), ["plain", "login", "cram-md5", "external", "none", "xoauth2", "oauthbearer"]);
    assert.deepEqual(methodsOf("sieve"), ["plain", "login", "external", "xoauth2", "oauthbearer"]);
    assert.ok(DIRECTIVES.some((d) => d.name === "pop3_auth"));
    assert.ok(DIRECTIVES.some((d) => d.name === "sieve_auth"));
  });

  test("advertised mechanisms follow nginx's fixed order whatever the directive's order; POP3 plain stands for PLAIN and LOGIN", () => {
    assert.deepEqual(advertisedMechanisms("imap", ["oauthbearer", "cram-md5", "login", "plain"]), ["PLAIN", "LOGIN", "CRAM-MD5", "OAUTHBEARER"]);
    assert.deepEqual(advertisedMechanisms("pop3", ["external", "apop", "plain"]), ["PLAIN", "LOGIN", "EXTERNAL"]);
    assert.deepEqual(advertisedMechanisms("smtp", ["none", "xoauth2", "login"]), ["LOGIN", "XOAUTH2"]);
    assert.deepEqual(advertisedMechanisms("sieve", ["oauthbearer", "external", "login", "plain"]), ["PLAIN", "LOGIN", "EXTERNAL", "OAUTHBEARER"]);
  });

  test("PLAIN and LOGIN are always accepted; the others only when listed", () => {
    // ManageSieve has no CRAM-MD5 row: a method that names it cannot turn it on.
    assert.equal(mechanismAccepted("sieve", "CRAM-MD5", ["cram-md5"]), false);
    for (const protocol of ["imap", "pop3", "smtp", "sieve"] as const) {
      assert.equal(mechanismAccepted(protocol, "PLAIN", []), true);
      assert.equal(mechanismAccepted(protocol, "LOGIN", []), true);
      assert.equal(mechanismAccepted(protocol, "CRAM-MD5", ["plain"]), false);
      if (protocol !== "sieve") assert.equal(mechanismAccepted(protocol, "CRAM-MD5", ["cram-md5"]), true);
      assert.equal(mechanismAccepted(protocol, "EXTERNAL", ["plain"]), false);
      assert.equal(mechanismAccepted(protocol, "XOAUTH2", ["oauthbearer"]), false);
      assert.equal(mechanismAccepted(protocol, "OAUTHBEARER", ["oauthbearer"]), true);
    }
  });

  test("what each method yields decides the salt, the backend password and passthrough", () => {
    assert.equal(anySalted(["plain", "apop"]), true);
    assert.equal(anySalted(["plain", "external"]), false);
    assert.deepEqual(["plain", "apop", "cram-md5", "external", "none", "xoauth2"].map((m) => yieldOf(m as "plain")),
      ["password", "digest", "digest", "identity", "nothing", "password"]);
  });
});
