import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { encodeBase64 } from "../../src/wire/sasl.ts";
import {
  decodeBase64,
  makeSalt,
  parsePlain,
  PROMPT_PASSWORD,
  PROMPT_USERNAME,
  SaslExchange,
  saslMechanism,
} from "../../src/protocols/sasl.ts";

const NO_SALT = () => {
  throw new Error("salt must not be used");
};

describe("decodeBase64 (nginx rules)", () => {
  test("decodes padded and unpadded text", () => {
    assert.equal(decodeBase64("am9obg=="), "john");
    assert.equal(decodeBase64("am9obg"), "john");
    assert.equal(decodeBase64("AGpvaG4Ac2VjcmV0"), "\0john\0secret");
  });

  test("an empty line decodes to an empty string", () => {
    assert.equal(decodeBase64(""), "");
  });

  test("decoding stops at the first =, whatever follows", () => {
    assert.equal(decodeBase64("="), "");
    assert.equal(decodeBase64("am9obg=!!garbage"), "john");
    assert.equal(decodeBase64("am9o=bg=="), "joh");
  });

  test("a data length of 1 mod 4 is invalid", () => {
    assert.equal(decodeBase64("a"), null);
    assert.equal(decodeBase64("am9ob"), null);
    assert.equal(decodeBase64("a="), null);
    assert.equal(decodeBase64("am9ob==="), null);
  });

  test("any character outside the standard alphabet is invalid", () => {
    assert.equal(decodeBase64("*"), null);
    assert.equal(decodeBase64("am9o bg=="), null);
    assert.equal(decodeBase64("-_8A"), null, "URL-safe alphabet");
    assert.equal(decodeBase64("am9obg\r\n"), null);
    assert.equal(decodeBase64("am9\u0100"), null);
  });

  test("decodes to a binary string byte for byte", () => {
    assert.equal(decodeBase64("/w=="), "\xff");
    assert.equal(decodeBase64("0L/QsNGA0L7Qu9GM"), Buffer.from("пароль", "utf8").toString("latin1"));
  });

  test("encodeBase64 is the inverse on binary strings", () => {
    assert.equal(encodeBase64("\xff\0a"), "/wBh");
    assert.equal(decodeBase64(encodeBase64("\x80\x81 ok")), "\x80\x81 ok");
  });
});

describe("parsePlain", () => {
  test("skips the authorization identity and splits user and password", () => {
    assert.deepEqual(parsePlain("admin\0john\0secret"), { user: "john", pass: "secret" });
  });

  test("user and password may be empty, the password may contain NUL", () => {
    assert.deepEqual(parsePlain("\0\0"), { user: "", pass: "" });
    assert.deepEqual(parsePlain("\0john\0a\0b"), { user: "john", pass: "a\0b" });
  });

  test("both NULs are required", () => {
    assert.equal(parsePlain("john"), null);
    assert.equal(parsePlain("\0john"), null);
  });
});

describe("saslMechanism", () => {
  test("known names are matched case-insensitively", () => {
    assert.equal(saslMechanism("plain"), "PLAIN");
    assert.equal(saslMechanism("Login"), "LOGIN");
    assert.equal(saslMechanism("cram-md5"), "CRAM-MD5");
    assert.equal(saslMechanism("external"), "EXTERNAL");
    assert.equal(saslMechanism("xoauth2"), "XOAUTH2");
    assert.equal(saslMechanism("OAuthBearer"), "OAUTHBEARER");
  });

  test("other names are unknown", () => {
    assert.equal(saslMechanism("DIGEST-MD5"), null);
    assert.equal(saslMechanism(""), null);
  });
});

describe("SASL PLAIN", () => {
  test("without initial response: an empty challenge, then the credentials", () => {
    const x = new SaslExchange("PLAIN", NO_SALT);
    assert.deepEqual(x.begin(undefined, 0), { type: "challenge", text: "" });
    assert.deepEqual(x.step("AGpvaG4Ac2VjcmV0"), {
      type: "done",
      credentials: { method: "plain", user: "john", pass: "secret" },
    });
  });

  test("with an initial response: done at once", () => {
    assert.deepEqual(new SaslExchange("PLAIN", NO_SALT).begin("AGpvaG4Ac2VjcmV0", 0), {
      type: "done",
      credentials: { method: "plain", user: "john", pass: "secret" },
    });
  });

  test("bad base64, a payload without NULs, or an extra argument are invalid", () => {
    assert.deepEqual(new SaslExchange("PLAIN", NO_SALT).begin("AGpv!", 0), { type: "invalid" });
    assert.deepEqual(new SaslExchange("PLAIN", NO_SALT).begin("am9obg==", 0), { type: "invalid" });
    assert.deepEqual(new SaslExchange("PLAIN", NO_SALT).begin("AGpvaG4Ac2VjcmV0", 1), { type: "invalid" });
    const x = new SaslExchange("PLAIN", NO_SALT);
    x.begin(undefined, 0);
    assert.deepEqual(x.step("*"), { type: "invalid" });
  });

  test("only the first space-separated token of a line is used", () => {
    const x = new SaslExchange("PLAIN", NO_SALT);
    x.begin(undefined, 0);
    assert.deepEqual(x.step("AGpvaG4Ac2VjcmV0 ignored"), {
      type: "done",
      credentials: { method: "plain", user: "john", pass: "secret" },
    });
  });
});

describe("SASL LOGIN", () => {
  test("without initial response: Username: and Password: prompts, method plain", () => {
    const x = new SaslExchange("LOGIN", NO_SALT);
    assert.deepEqual(x.begin(undefined, 0), { type: "challenge", text: PROMPT_USERNAME });
    assert.equal(Buffer.from(PROMPT_USERNAME, "base64").toString(), "Username:");
    assert.deepEqual(x.step("am9obg=="), { type: "challenge", text: PROMPT_PASSWORD });
    assert.equal(Buffer.from(PROMPT_PASSWORD, "base64").toString(), "Password:");
    assert.deepEqual(x.step("c2VjcmV0"), { type: "done", credentials: { method: "plain", user: "john", pass: "secret" } });
  });

  test("with initial response: straight to the password prompt", () => {
    const x = new SaslExchange("LOGIN", NO_SALT);
    assert.deepEqual(x.begin("am9obg==", 0), { type: "challenge", text: PROMPT_PASSWORD });
    assert.deepEqual(x.step(""), { type: "done", credentials: { method: "plain", user: "john", pass: "" } });
  });

  test("bad base64 in either step and an extra argument are invalid", () => {
    assert.deepEqual(new SaslExchange("LOGIN", NO_SALT).begin("am9ob", 0), { type: "invalid" });
    assert.deepEqual(new SaslExchange("LOGIN", NO_SALT).begin("am9obg==", 1), { type: "invalid" });
    const x = new SaslExchange("LOGIN", NO_SALT);
    x.begin("am9obg==", 0);
    assert.deepEqual(x.step("c2VjcmV0!"), { type: "invalid" });
  });
});

describe("SASL CRAM-MD5", () => {
  const RFC_SALT = "<1896.697170952@postoffice.reston.mci.net>";
  const RFC_DIGEST = "b913a602c7eda7a495b4e6e7334d3890";

  test("the RFC 2195 example: the challenge is the base64 salt, the response yields user, digest and salt", () => {
    assert.equal(createHmac("md5", "tanstaaftanstaaf").update(RFC_SALT).digest("hex"), RFC_DIGEST);
    const x = new SaslExchange("CRAM-MD5", () => RFC_SALT);
    assert.deepEqual(x.begin(undefined, 0), {
      type: "challenge",
      text: "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+",
    });
    assert.deepEqual(x.step("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw"), {
      type: "done",
      credentials: { method: "cram-md5", user: "tim", pass: RFC_DIGEST, salt: RFC_SALT },
    });
  });

  test("the credentials carry the salt that the challenge showed", () => {
    let n = 0;
    const x = new SaslExchange("CRAM-MD5", () => `<${++n}.1@mx>`);
    const challenge = x.begin(undefined, 0);
    const step = x.step(encodeBase64(`tim ${RFC_DIGEST}`));
    assert.deepEqual(challenge, { type: "challenge", text: encodeBase64("<1.1@mx>") });
    assert.equal(step.type === "done" && step.credentials.salt, "<1.1@mx>");
  });

  test("an initial response is invalid", () => {
    assert.deepEqual(new SaslExchange("CRAM-MD5", NO_SALT).begin("dGlt", 0), { type: "invalid" });
  });

  test("the digest must be exactly 32 characters after the first space; its content is not checked", () => {
    const answer = (text: string) => {
      const x = new SaslExchange("CRAM-MD5", () => RFC_SALT);
      x.begin(undefined, 0);
      return x.step(encodeBase64(text));
    };
    assert.deepEqual(answer(`tim ${RFC_DIGEST.slice(1)}`), { type: "invalid" });
    assert.deepEqual(answer(`tim ${RFC_DIGEST}0`), { type: "invalid" });
    assert.deepEqual(answer(`tim${RFC_DIGEST}`), { type: "invalid" });
    assert.deepEqual(answer("tim "), { type: "invalid" });
    assert.deepEqual(answer(`t i ${"z".repeat(30)}`), {
      type: "done",
      credentials: { method: "cram-md5", user: "t", pass: `i ${"z".repeat(30)}`, salt: RFC_SALT },
    });
  });
});

describe("SASL EXTERNAL", () => {
  test("without initial response: a Username: prompt, and an empty identity is accepted", () => {
    const x = new SaslExchange("EXTERNAL", NO_SALT);
    assert.deepEqual(x.begin(undefined, 0), { type: "challenge", text: PROMPT_USERNAME });
    assert.deepEqual(x.step(""), { type: "done", credentials: { method: "external", user: "", pass: "" } });
  });

  test("with initial response: done at once, with an empty password", () => {
    assert.deepEqual(new SaslExchange("EXTERNAL", NO_SALT).begin("am9obg==", 0), {
      type: "done",
      credentials: { method: "external", user: "john", pass: "" },
    });
  });

  test("bad base64 and an extra argument are invalid", () => {
    assert.deepEqual(new SaslExchange("EXTERNAL", NO_SALT).begin("*", 0), { type: "invalid" });
    assert.deepEqual(new SaslExchange("EXTERNAL", NO_SALT).begin("am9obg==", 1), { type: "invalid" });
  });
});

describe("makeSalt", () => {
  test("has the form <random.seconds@server_name>", () => {
    const salt = makeSalt("mx.example.com", 1700000000999);
    const m = /^<(\d+)\.1700000000@mx\.example\.com>$/.exec(salt);
    assert.ok(m, salt);
    assert.ok(Number(m[1]) <= 2 ** 31 - 1);
  });
});
