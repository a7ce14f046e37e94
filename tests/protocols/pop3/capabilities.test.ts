import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { pop3AuthListing, pop3Capa } from "../../../src/protocols/pop3/capabilities.ts";
import type { AuthMethodName, StartTls } from "../../../src/config/model.ts";

const DEFAULT = ["TOP", "USER", "UIDL"];

function capa(starttls: StartTls, tlsActive: boolean, afterUser = false, auth: AuthMethodName[] = ["plain"], capabilities = DEFAULT) {
  return pop3Capa({ capabilities, auth, starttls, tlsActive, afterUser }).split("\r\n");
}

describe("POP3 CAPA", () => {
  test("starttls off lists L and the SASL line", () => {
    assert.deepEqual(capa("off", false), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".", ""]);
  });

  test("plain connection with starttls on adds STLS after the SASL line", () => {
    assert.deepEqual(capa("on", false), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "STLS", ".", ""]);
  });

  test("plain connection with starttls only drops USER and SASL and adds STLS", () => {
    assert.deepEqual(capa("only", false), ["+OK Capability list follows", "TOP", "UIDL", "STLS", ".", ""]);
  });

  test("USER is dropped case-insensitively under starttls only", () => {
    assert.deepEqual(capa("only", false, false, ["plain"], ["user", "Top", "EXPIRE 0"]), [
      "+OK Capability list follows",
      "Top",
      "EXPIRE 0",
      "STLS",
      ".",
      "",
    ]);
  });

  test("TLS active shows the plain list whatever starttls says", () => {
    for (const mode of ["on", "only", "off"] as const) {
      assert.deepEqual(capa(mode, true), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", ".", ""]);
    }
  });

  test("after USER the plain list is shown even before TLS", () => {
    assert.deepEqual(capa("on", false, true), capa("off", false));
    assert.deepEqual(capa("only", false, true), capa("off", false));
  });

  test("the SASL line is present even without any mechanism", () => {
    assert.deepEqual(capa("off", false, false, ["apop"]), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL", ".", ""]);
  });

  test("the SASL line lists mechanisms in fixed order", () => {
    assert.deepEqual(capa("off", false, false, ["external", "cram-md5", "apop", "plain"])[4], "SASL PLAIN LOGIN CRAM-MD5 EXTERNAL");
  });

  test("XOAUTH2 and OAUTHBEARER are appended to the SASL line when listed", () => {
    assert.deepEqual(capa("off", false, false, ["oauthbearer", "xoauth2", "plain"])[4], "SASL PLAIN LOGIN XOAUTH2 OAUTHBEARER");
    assert.deepEqual(capa("off", false, false, ["xoauth2"])[4], "SASL XOAUTH2");
  });

  test("pop3_capabilities lines are shown verbatim in order", () => {
    assert.deepEqual(capa("off", false, false, ["plain"], ["EXPIRE 0", "PIPELINING"]), [
      "+OK Capability list follows",
      "EXPIRE 0",
      "PIPELINING",
      "SASL PLAIN LOGIN",
      ".",
      "",
    ]);
  });
});

describe("POP3 AUTH listing", () => {
  test("one mechanism per line between the +OK line and the dot", () => {
    assert.equal(pop3AuthListing(["plain", "cram-md5"]), "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nCRAM-MD5\r\n.\r\n");
  });

  test("the mechanism list comes from the same table as the SASL line", () => {
    assert.equal(pop3AuthListing(["apop"]), "+OK methods supported:\r\n.\r\n");
    assert.equal(pop3AuthListing(["external", "plain"]), "+OK methods supported:\r\nPLAIN\r\nLOGIN\r\nEXTERNAL\r\n.\r\n");
  });
});
