/**
 * The user table: both spellings, every password scheme against reference
 * hashes made by other tools (openssl passwd, Dovecot's doveadm pw), patterns,
 * and the FILE:LINE of every refusal.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { shaCrypt } from "../../src/auth/sha_crypt.ts";
import { parseStoredPassword, verifyApop, verifyCramMd5, verifyPassword } from "../../src/auth/password_hash.ts";
import { loadUserTable, parsePasswdTable, parseTomlTable } from "../../src/auth/user_table.ts";
import { tempDir } from "../support/temp_dir.ts";

/** `sécret` as the client sends it: UTF-8 bytes in a binary string. */
const SECRET = Buffer.from("sécret", "utf8").toString("latin1");
// doveadm pw -s BLF-CRYPT -p 'sécret' / doveadm pw -s SHA512-CRYPT -p 'sécret'
const DOVEADM_BCRYPT = "{BLF-CRYPT}$2y$05$AZCZBgqX6tu2A4xUsl6bm.1RhrxMupFg6ul9IGOB/zDJcOpeZcJjK";
const DOVEADM_SHA512 =
  "{SHA512-CRYPT}$6$y5SYEg6GXPbEhI.r$qp1sWEENQFtLm/DUrhlOHJKh3O7PM2dIH7J4L/i5R7UYOrzj2LVnOVqc1lxsHkqfoF5pWmrGXGAC2lZ6cqowb0";

function tempFile(name: string, text: string): string {
  const dir = tempDir("mailproxy-users-");
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

describe("SHA-crypt", () => {
  test("matches the test vectors of the published specification", () => {
    assert.equal(
      shaCrypt("Hello world!", "$6$saltstring"),
      "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    );
    assert.equal(
      shaCrypt("Hello world!", "$6$rounds=10000$saltstringsaltstring"),
      "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.",
    );
    assert.equal(shaCrypt("Hello world!", "$5$saltstring"), "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5");
  });

  test("matches openssl passwd -6 for a long password", () => {
    // openssl passwd -6 -salt 'Zz9/.abc' 'correct horse battery staple, and then some more words'
    assert.equal(
      shaCrypt("correct horse battery staple, and then some more words", "$6$Zz9/.abc$"),
      "$6$Zz9/.abc$GdH0mG4T0rFv6AxWfCd9mUq3bycdYKPk5ZqNxhXkk03dG6swiB/h94kz27dO/gdoMzrBOHNuGlMeeDF.t5Szi.",
    );
  });
});

describe("stored passwords", () => {
  test("bcrypt and SHA512-CRYPT hashes made by doveadm accept the right password only", async () => {
    for (const text of [DOVEADM_BCRYPT, DOVEADM_BCRYPT.replace("{BLF-CRYPT}", ""), DOVEADM_SHA512, DOVEADM_SHA512.replace("{SHA512-CRYPT}", "")]) {
      const stored = parseStoredPassword(text);
      assert.equal(typeof stored, "object", text);
      if (typeof stored === "string") continue;
      assert.equal(await verifyPassword(stored, SECRET), true, text);
      assert.equal(await verifyPassword(stored, "secret"), false, text);
    }
  });

  test("{plain} compares the bytes and allows CRAM-MD5 and APOP digests", async () => {
    const stored = parseStoredPassword("{plain}tanstaaftanstaaf");
    assert.deepEqual(stored, { scheme: "plain", plain: "tanstaaftanstaaf" });
    assert.equal(await verifyPassword(stored as { scheme: "plain"; plain: string }, "tanstaaftanstaaf"), true);
    // RFC 2195's example and RFC 1939's example.
    assert.equal(verifyCramMd5("tanstaaftanstaaf", "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890"), true);
    assert.equal(verifyApop("tanstaaf", "<1896.697170952@dbc.mtview.ca.us>", "c4c9334bac560ecc979e58001b3e22fb"), true);
    assert.equal(verifyApop("tanstaag", "<1896.697170952@dbc.mtview.ca.us>", "c4c9334bac560ecc979e58001b3e22fb"), false);
  });

  test("an unmarked clear-text password and unknown schemes are refused", () => {
    assert.equal(parseStoredPassword("secret"), "unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text)");
    assert.equal(parseStoredPassword("{MD5}abc"), 'unsupported password scheme "{MD5}"');
    assert.equal(parseStoredPassword("$6$salt$tooshort"), "unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text)");
  });
});

describe("user table files", () => {
  test("passwd-style lines give names, hashes and backends per protocol; exact names beat *@domain", () => {
    const file = tempFile("users", [
      "# comment",
      "",
      `alice@example.com:${DOVEADM_SHA512}:imap=127.0.0.1:1143 pop3=[::1]:1110`,
      "*@Example.com:{plain}pw:smtp=mail.internal:2525 sieve=mail.internal:4190",
      "bob:{plain}x",
      "",
    ].join("\n"));
    const table = loadUserTable(file);
    assert.equal(table.size, 3);
    assert.deepEqual(table.lookup("alice@example.com")?.backends, { imap: { host: "127.0.0.1", port: 1143 }, pop3: { host: "::1", port: 1110 } });
    assert.equal(table.lookup("alice@example.com")?.line, 3);
    assert.equal(table.lookup("carol@EXAMPLE.com")?.name, "*@Example.com");
    assert.deepEqual(table.lookup("carol@example.com")?.backends, {
      smtp: { host: "mail.internal", port: 2525 },
      sieve: { host: "mail.internal", port: 4190 },
    });
    assert.equal(table.lookup("bob")?.line, 5);
    assert.equal(table.lookup("example.com"), undefined);
    assert.equal(table.lookup("Alice@example.org"), undefined);
  });

  test("TOML [[user]] tables give the same entries, UTF-8 names as bytes", () => {
    const file = tempFile("users.toml", [
      "[[user]]",
      'name = "josé@example.com"',
      `password = "${DOVEADM_BCRYPT.replace(/\$/g, "$")}"`,
      'imap = "127.0.0.1:143"',
      "",
      "[[user]]",
      'name = "*@example.org"',
      'password = "{plain}p:w"',
      "",
    ].join("\n"));
    const table = loadUserTable(file);
    const jose = table.lookup(Buffer.from("josé@example.com", "utf8").toString("latin1"));
    assert.equal(jose?.line, 1);
    assert.equal(jose?.password.scheme, "bcrypt");
    assert.deepEqual(table.lookup("x@example.org")?.password, { scheme: "plain", plain: "p:w" });
    assert.equal(table.lookup("x@example.org")?.line, 6);
  });

  test("broken lines are refused with the file and line", () => {
    const cases: Array<[string, string]> = [
      ["a:{plain}x\nnocolon\n", 'expected "user:password[:backends]" in F:2'],
      ["a:secret\n", 'unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text) for user "a" in F:1'],
      ["\n\na:{plain}x:imap=127.0.0.1\n", 'invalid imap backend "127.0.0.1": no port in proxy_pass "127.0.0.1" in F:3'],
      ["a:{plain}x:lmtp=127.0.0.1:24\n", 'unknown field "lmtp=127.0.0.1:24", expected imap=, pop3=, smtp= or sieve= in F:1'],
      ["a*b:{plain}x\n", 'invalid user pattern "a*b", only "*@domain" is allowed in F:1'],
      ["a:{plain}x\n# again\na:{plain}y\n", 'duplicate user "a" (first at line 1) in F:3'],
    ];
    for (const [text, message] of cases) {
      const file = tempFile("users", text);
      assert.throws(() => loadUserTable(file), { message: message.replace("F:", `${file}:`) });
    }
  });

  test("broken TOML is refused with the file and line", () => {
    const bad = tempFile("users.toml", '[[user]]\nname = "a"\npassword = "{plain}x"\n\n[[user]]\nname = "b"\npassword = "nope"\n');
    assert.throws(() => loadUserTable(bad), { message: `unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text) for user "b" in ${bad}:5` });
    const syntax = tempFile("users.toml", '[[user]]\nname = "a\n');
    assert.throws(() => loadUserTable(syntax), (err: Error) => err.message.startsWith("invalid TOML: ") && err.message.endsWith(`in ${syntax}:2`));
    assert.throws(() => loadUserTable("/nonexistent/users"), { message: "cannot read user table (ENOENT) in /nonexistent/users" });
  });

  test("the parsers alone need no file", () => {
    assert.equal(parsePasswdTable("a:{plain}x\n", "mem").length, 1);
    assert.equal(parseTomlTable("", "mem").length, 0);
  });
});
