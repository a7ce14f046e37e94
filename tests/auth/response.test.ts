import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type AuthDecision,
  connectionReuse,
  decideAuthResponse,
  type DecisionContext,
  type HeadParseResult,
  isHostName,
  ResponseHeadParser,
} from "../../src/auth/response.ts";
import { BodyDrain } from "../../src/auth/body_drain.ts";
import type { AuthMethod } from "../../src/protocols/types.ts";
import type { Protocol } from "../../src/config/model.ts";

function parse(text: string): HeadParseResult {
  return new ResponseHeadParser().feed(text);
}

/** Feed the text split at every offset (and byte by byte); all must agree with one whole feed. */
function parseEverySplit(text: string): HeadParseResult {
  const whole = parse(text);
  for (let cut = 0; cut <= text.length; cut++) {
    const parser = new ResponseHeadParser();
    let result = parser.feed(text.slice(0, cut));
    if (result.type === "more") result = parser.feed(text.slice(cut));
    // bytes fed after the end of the head belong to the body
    else if (result.type === "done") result = { ...result, rest: result.rest + text.slice(cut) };
    assert.deepEqual(result, whole, `split at ${cut}`);
  }
  const parser = new ResponseHeadParser();
  let result: HeadParseResult = { type: "more" };
  for (const byte of text) {
    result = parser.feed(byte);
    if (result.type !== "more") break;
  }
  if (result.type === "done") result = { ...result, rest: whole.type === "done" ? whole.rest : "" };
  assert.deepEqual(result, whole, "byte by byte");
  return whole;
}

function ctx(protocol: Protocol = "imap", method: AuthMethod = "plain"): DecisionContext {
  return { protocol, method, peer: "127.0.0.1:9000" };
}

function decide(text: string, context = ctx()): AuthDecision {
  const result = parseEverySplit(text);
  assert.equal(result.type, "done", JSON.stringify(result));
  if (result.type !== "done") throw new Error("unreachable");
  return decideAuthResponse(result.head, context);
}

const OK = "Auth-Status: OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n";

describe("auth_http response header parsing (§4)", () => {
  test("a status line is optional and its code is ignored", () => {
    assert.deepEqual(decide(`${OK}\r\n`), { type: "ok", server: "10.0.0.5", port: 143 });
    assert.deepEqual(decide(`HTTP/1.0 500 Internal Server Error\r\n${OK}\r\n`), {
      type: "ok",
      server: "10.0.0.5",
      port: 143,
    });
    assert.deepEqual(decide(`HTTP/1.1 404 Not Found\n${OK.replace(/\r/g, "")}\n`), {
      type: "ok",
      server: "10.0.0.5",
      port: 143,
    });
  });

  test("the parsed head keeps the status line and the headers in order with trimmed values", () => {
    const result = parseEverySplit("HTTP/1.1 200 OK\r\nAuth-Status:   a  b  \r\nX-No-Colon\r\nX-Empty:\r\n\r\nbody");
    assert.deepEqual(result, {
      type: "done",
      head: {
        statusLine: "HTTP/1.1 200 OK",
        headers: [["Auth-Status", "a  b"], ["X-No-Colon", ""], ["X-Empty", ""]],
      },
      rest: "body",
    });
  });

  test("a response that only starts like a status line is parsed as headers", () => {
    assert.deepEqual(parseEverySplit("HTTX: 1\r\n\r\n"), {
      type: "done",
      head: { statusLine: null, headers: [["HTTX", "1"]] },
      rest: "",
    });
  });

  test("a CR in the status line not followed by LF is an invalid response", () => {
    assert.deepEqual(parseEverySplit("HTTP/1.0 200\rX\r\n\r\n"), { type: "error", error: "invalid-response" });
  });

  test("header names with an underscore, a space before the colon or UTF-8 make the response invalid", () => {
    for (const line of ["Auth_Status: OK", "Auth-Status : OK", "Aüth: x", "-Auth: x", " Auth-Status: OK"]) {
      assert.deepEqual(parseEverySplit(`HTTP/1.0 200 OK\r\n${line}\r\n\r\n`), { type: "error", error: "invalid-header" }, line);
    }
  });

  test("a CR followed by anything but LF inside the headers is invalid", () => {
    assert.deepEqual(parseEverySplit("Auth-Status: OK\rX\r\n\r\n"), { type: "error", error: "invalid-header" });
    assert.deepEqual(parseEverySplit("Auth-Status: OK\r\n\rX"), { type: "error", error: "invalid-header" });
    assert.deepEqual(parseEverySplit("Auth-Status\rX\r\n\r\n"), { type: "error", error: "invalid-header" });
  });

  test("a header block of exactly 1024 bytes is accepted and one byte more is too large", () => {
    const block = (size: number) => {
      const prefix = `${OK}X-Pad: `;
      return prefix + "a".repeat(size - prefix.length - 4) + "\r\n\r\n";
    };
    assert.equal(block(1024).length, 1024);
    assert.equal(parse(block(1024)).type, "done");
    assert.deepEqual(parse(block(1025)), { type: "error", error: "too-large" });
    const parser = new ResponseHeadParser();
    assert.deepEqual(parser.feed(block(1025).slice(0, 1000)), { type: "more" });
    assert.deepEqual(parser.feed(block(1025).slice(1000)), { type: "error", error: "too-large" });
  });

  test("a long Auth-Status text beyond 1024 bytes is too large even without an end", () => {
    assert.deepEqual(parse("Auth-Status: " + "x".repeat(2000)), { type: "error", error: "too-large" });
  });

  test("bytes after the empty line do not count against the limit", () => {
    const result = parse(`${OK}\r\n` + "b".repeat(5000));
    assert.equal(result.type, "done");
    assert.equal(result.type === "done" && result.rest.length, 5000);
  });
});

describe("auth_http response decision (§5)", () => {
  test("trailing spaces are trimmed so 'OK  ' is success", () => {
    assert.deepEqual(decide("Auth-Status: OK   \r\nAuth-Server: 10.0.0.5  \r\nAuth-Port: 143 \r\n\r\n"), {
      type: "ok",
      server: "10.0.0.5",
      port: 143,
    });
  });

  test("success needs no Auth-Status and returns Auth-User and Auth-Pass verbatim", () => {
    assert.deepEqual(decide("Auth-Server: ::1\r\nAuth-Port: 1\r\nAuth-User: j%20d\r\nAuth-Pass: p w\r\n\r\n"), {
      type: "ok",
      server: "::1",
      port: 1,
      user: "j%20d",
      pass: "p w",
    });
  });

  test("header names are matched case-insensitively and the status value case-sensitively", () => {
    assert.deepEqual(decide("auth-status: ok\r\nAUTH-SERVER: 10.0.0.5\r\nauth-port: 143\r\n\r\n"), {
      type: "error",
      text: "ok",
      wait: 0,
    });
  });

  test("an error with Auth-Wait carries the wait in seconds", () => {
    assert.deepEqual(decide("Auth-Status: Invalid login or password\r\nAuth-Wait: 3\r\n\r\n"), {
      type: "error",
      text: "Invalid login or password",
      wait: 3,
    });
  });

  test("a non-numeric Auth-Wait is ignored and keeps an earlier valid one", () => {
    assert.deepEqual(decide("Auth-Status: no\r\nAuth-Wait: 2\r\nAuth-Wait: soon\r\n\r\n"), {
      type: "error",
      text: "no",
      wait: 2,
    });
    assert.deepEqual(decide("Auth-Status: no\r\nAuth-Wait: -1\r\n\r\n"), { type: "error", text: "no", wait: 0 });
  });

  test("Auth-Error-Code is kept for SMTP only", () => {
    const text = "Auth-Status: Temporary server problem, try again later\r\nAuth-Error-Code: 451 4.3.0\r\nAuth-Wait: 3\r\n\r\n";
    assert.deepEqual(decide(text, ctx("smtp")), {
      type: "error",
      text: "Temporary server problem, try again later",
      wait: 3,
      errorCode: "451 4.3.0",
    });
    assert.deepEqual(decide(text, ctx("pop3")), {
      type: "error",
      text: "Temporary server problem, try again later",
      wait: 3,
    });
  });

  test("Auth-Status OK followed by an error text is an error", () => {
    assert.deepEqual(decide(`${OK}Auth-Status: Go away\r\n\r\n`), { type: "error", text: "Go away", wait: 0 });
  });

  test("an error cannot be cancelled by a later Auth-Status OK and the last error text wins", () => {
    assert.deepEqual(decide(`Auth-Status: first\r\nAuth-Status: second\r\n${OK}\r\n`), {
      type: "error",
      text: "second",
      wait: 0,
    });
  });

  test("an empty Auth-Status is an error with empty text for IMAP and POP3 but not for SMTP", () => {
    const text = "Auth-Status:\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 25\r\n\r\n";
    assert.deepEqual(decide(text, ctx("imap")), { type: "error", text: "", wait: 0 });
    assert.deepEqual(decide(text, ctx("pop3")), { type: "error", text: "", wait: 0 });
    assert.deepEqual(decide(text, ctx("smtp")), { type: "ok", server: "10.0.0.5", port: 25 });
  });

  test("WAIT asks for a re-query after Auth-Wait seconds, or at once without it", () => {
    assert.deepEqual(decide("Auth-Status: WAIT\r\nAuth-Wait: 2\r\n\r\n"), { type: "wait", seconds: 2 });
    assert.deepEqual(decide("Auth-Status: WAIT\r\n\r\n"), { type: "wait", seconds: 0 });
  });

  test("an error beats WAIT in the same answer", () => {
    assert.deepEqual(decide("Auth-Status: WAIT\r\nAuth-Status: no\r\n\r\n"), { type: "error", text: "no", wait: 0 });
  });

  test("success without server or port is an internal error", () => {
    for (const text of ["Auth-Status: OK\r\n\r\n", "Auth-Server: 10.0.0.5\r\n\r\n", "Auth-Server:\r\nAuth-Port: 1\r\n\r\n"]) {
      assert.deepEqual(decide(text), {
        type: "internal",
        reason: "auth http server 127.0.0.1:9000 did not send server or port",
      });
    }
  });

  test("a bad Auth-Server is an internal error quoting the value", () => {
    for (const server of ["[::1]", "10.0.0.256", "mail server", "1.2.3", "-x.example", "fe80::1%eth0"]) {
      assert.deepEqual(decide(`Auth-Server: ${server}\r\nAuth-Port: 143\r\n\r\n`), {
        type: "internal",
        reason: `auth http server 127.0.0.1:9000 sent invalid server address:"${server}"`,
      });
    }
  });

  test("a host name in Auth-Server asks for resolution (beyond nginx)", () => {
    assert.deepEqual(decide("Auth-Server: imap.internal\r\nAuth-Port: 143\r\nAuth-Pass: x\r\n\r\n"), {
      type: "resolve",
      host: "imap.internal",
      port: 143,
      pass: "x",
    });
  });

  test("a bad Auth-Port is an internal error quoting the value", () => {
    for (const port of ["0", "65536", "+143", "14 3", "0x8f", "99999999999999999999"]) {
      assert.deepEqual(decide(`Auth-Server: 10.0.0.5\r\nAuth-Port: ${port}\r\n\r\n`), {
        type: "internal",
        reason: `auth http server 127.0.0.1:9000 sent invalid server port:"${port}"`,
      });
    }
    assert.deepEqual(decide("Auth-Server: 10.0.0.5\r\nAuth-Port: 65535\r\n\r\n"), {
      type: "ok",
      server: "10.0.0.5",
      port: 65535,
    });
  });

  test("IMAP and POP3 need Auth-Pass after APOP, CRAM-MD5 and EXTERNAL but SMTP does not", () => {
    for (const method of ["apop", "cram-md5", "external"] as const) {
      for (const protocol of ["imap", "pop3"] as const) {
        assert.deepEqual(decide(OK + "\r\n", ctx(protocol, method)), {
          type: "internal",
          reason: "auth http server 127.0.0.1:9000 did not send password",
        });
        assert.deepEqual(decide(`${OK}Auth-Pass: real\r\n\r\n`, ctx(protocol, method)), {
          type: "ok",
          server: "10.0.0.5",
          port: 143,
          pass: "real",
        });
      }
      assert.deepEqual(decide(OK + "\r\n", ctx("smtp", method)), { type: "ok", server: "10.0.0.5", port: 143 });
    }
    assert.deepEqual(decide(OK + "\r\n", ctx("imap", "plain")), { type: "ok", server: "10.0.0.5", port: 143 });
  });

  test("the missing password is reported before a bad address, as nginx checks it first", () => {
    assert.deepEqual(decide("Auth-Server: bad server\r\nAuth-Port: 0\r\n\r\n", ctx("pop3", "apop")), {
      type: "internal",
      reason: "auth http server 127.0.0.1:9000 did not send password",
    });
  });

  test("host names are told apart from IP literals and shortened addresses", () => {
    assert.equal(isHostName("imap.internal"), true);
    assert.equal(isHostName("localhost"), true);
    assert.equal(isHostName("a-1.b2.example."), true);
    assert.equal(isHostName("10.1"), false);
    assert.equal(isHostName("under_score.example"), false);
    assert.equal(isHostName(""), false);
  });
});

describe("connection reuse facts of a response (pooling)", () => {
  function head(text: string) {
    const result = parse(text);
    if (result.type !== "done") throw new Error("no head");
    return result.head;
  }

  test("HTTP/1.1 with Content-Length can be reused", () => {
    assert.deepEqual(connectionReuse(head("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n")), {
      keepAlive: true,
      framing: { kind: "length", length: 12 },
    });
  });

  test("HTTP/1.0, Connection: close or no status line forbid keep-alive", () => {
    assert.equal(connectionReuse(head("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")).keepAlive, false);
    assert.equal(connectionReuse(head("HTTP/1.1 200 OK\r\nConnection: Close\r\n\r\n")).keepAlive, false);
    assert.equal(connectionReuse(head("Content-Length: 0\r\n\r\n")).keepAlive, false);
  });

  test("chunked, unknown and conflicting framings are told apart", () => {
    assert.deepEqual(connectionReuse(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")).framing, {
      kind: "chunked",
    });
    assert.deepEqual(connectionReuse(head("HTTP/1.1 200 OK\r\n\r\n")).framing, { kind: "unknown" });
    assert.deepEqual(
      connectionReuse(head("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n")).framing,
      { kind: "unknown" },
    );
    assert.deepEqual(connectionReuse(head("HTTP/1.1 204 No Content\r\n\r\n")).framing, { kind: "length", length: 0 });
  });

  test("a chunked body is drained to its end, split anywhere", () => {
    const body = "5\r\nhello\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\n";
    for (let cut = 0; cut <= body.length; cut++) {
      const drain = new BodyDrain({ kind: "chunked" });
      const first = drain.feed(body.slice(0, cut));
      const second = drain.feed(body.slice(cut));
      assert.equal(cut === body.length ? first : second, "done", `split at ${cut}`);
    }
    assert.equal(new BodyDrain({ kind: "chunked" }).feed("0\r\n\r\nextra"), "unusable");
    assert.equal(new BodyDrain({ kind: "chunked" }).feed("zz\r\n"), "unusable");
  });

  test("a Content-Length body is drained exactly and extra bytes make the connection unusable", () => {
    const drain = new BodyDrain({ kind: "length", length: 4 });
    assert.equal(drain.feed("ab"), "more");
    assert.equal(drain.feed("cd"), "done");
    assert.equal(new BodyDrain({ kind: "length", length: 2 }).feed("abc"), "unusable");
    assert.equal(new BodyDrain({ kind: "length", length: 0 }).current, "done");
  });
});
