import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { imapCapabilityLine } from "../../../src/protocols/imap/capabilities.ts";
import type { AuthMethodName, StartTls } from "../../../src/config/model.ts";

const BASE = ["IMAP4", "IMAP4rev1", "UIDPLUS"];
const ALL: AuthMethodName[] = ["external", "cram-md5", "login", "plain"];

function line(imap_auth: AuthMethodName[], starttls: StartTls, tls: boolean, imap_capabilities = BASE): string {
  return imapCapabilityLine({ imap_capabilities, imap_auth, starttls, tls });
}

describe("IMAP CAPABILITY line (§3.4)", () => {
  test("defaults give IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", () => {
    assert.equal(line(["plain"], "off", false), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n");
  });

  test("AUTH= words come in the fixed order whatever the imap_auth order", () => {
    assert.equal(
      line(ALL, "off", false),
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=EXTERNAL\r\n",
    );
  });

  test("XOAUTH2 and OAUTHBEARER follow EXTERNAL when listed", () => {
    assert.equal(
      line(["oauthbearer", "xoauth2", "external", "plain"], "off", false),
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=EXTERNAL AUTH=XOAUTH2 AUTH=OAUTHBEARER\r\n",
    );
  });

  test("plain connection with starttls on appends STARTTLS after the AUTH= words", () => {
    assert.equal(line(["plain", "login"], "on", false), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN STARTTLS\r\n");
  });

  test("plain connection with starttls only has no AUTH= words but STARTTLS LOGINDISABLED", () => {
    assert.equal(line(ALL, "only", false), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS STARTTLS LOGINDISABLED\r\n");
  });

  test("with TLS active neither STARTTLS nor LOGINDISABLED appear", () => {
    for (const starttls of ["on", "only", "off"] as const) {
      assert.equal(line(["plain"], starttls, true), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\n", starttls);
    }
  });

  test("imap_capabilities are used verbatim and may be empty", () => {
    assert.equal(line(["plain"], "off", false, ["IMAP4rev1", "ID", "SASL-IR"]), "* CAPABILITY IMAP4rev1 ID SASL-IR AUTH=PLAIN\r\n");
    assert.equal(line([], "off", false, []), "* CAPABILITY\r\n");
  });
});
