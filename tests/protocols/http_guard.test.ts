import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { firstLineVerdict } from "../../src/protocols/http_guard.ts";

describe("firstLineVerdict", () => {
  test("request lines of any method and version are HTTP, with or without CR", () => {
    for (const line of ["GET / HTTP/1.1\r\n", "POST /form?a=b HTTP/1.0\n", "CONNECT mail.example.com:143 HTTP/1.1\r\n", "OPTIONS * HTTP/2.0\r\n"]) {
      assert.equal(firstLineVerdict(line + "Host: x\r\n"), "http", line);
    }
  });

  test("mail commands are mail as soon as they cannot be a request line", () => {
    assert.equal(firstLineVerdict("a1 LOGIN"), "mail"); // lower-case first word
    assert.equal(firstLineVerdict("A1 LOGIN alice secret"), "mail"); // a fourth word
    assert.equal(firstLineVerdict("EHLO client.example.com\r\n"), "mail");
    assert.equal(firstLineVerdict("A1 NOOP HTTP/1.1x\r\n"), "mail");
    assert.equal(firstLineVerdict("GET / HTTP/1.1 extra\r\n"), "mail");
    assert.equal(firstLineVerdict("\r\n"), "mail");
  });

  test("a prefix that can still become a request line waits, up to 8 KiB", () => {
    for (const head of ["", "G", "GET", "GET ", "GET /", "GET / HTTP/1.", "GET / HTTP/1.1\r", "EHLO client.example.com"]) {
      assert.equal(firstLineVerdict(head), "undecided", JSON.stringify(head));
    }
    assert.equal(firstLineVerdict(`GET /${"a".repeat(8192)}`), "mail");
  });
});
