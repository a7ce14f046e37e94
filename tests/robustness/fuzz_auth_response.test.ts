/**
 * The auth_http answer reader fuzzed: the header block parser, what the
 * headers mean, connection reuse and the body drain never throw, always reach
 * a verdict within MAX_RESPONSE_HEAD bytes, and read the same however the
 * answer is cut into TCP segments.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  connectionReuse,
  decideAuthResponse,
  type DecisionContext,
  type HeadParseResult,
  headErrorReason,
  MAX_RESPONSE_HEAD,
  ResponseHeadParser,
} from "../../src/auth/response.ts";
import { BodyDrain } from "../../src/auth/body_drain.ts";
import { everySplit, hostileInput, runs } from "../support/fuzz.ts";

const ANSWERS = [
  "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 127.0.0.1\r\nAuth-Port: 143\r\n\r\n",
  "HTTP/1.1 200 OK\r\nAuth-Status: OK\r\nAuth-Server: backend.example\r\nAuth-Port: 110\r\nAuth-Pass: secret\r\nContent-Length: 0\r\n\r\n",
  "HTTP/1.1 200 OK\r\nAuth-Status: Invalid login or password\r\nAuth-Wait: 3\r\nAuth-Error-Code: 535 5.7.8\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "HTTP/1.0 200 OK\nAuth-Status: WAIT\nAuth-Wait: 0\n\n",
  "Auth-Status: OK\r\nAuth-Server: ::1\r\nAuth-Port: 25\r\nAuth-User: john\r\nAuth-Error-Code: 451\r\nAuth-SMTP-Auth: on\r\n\r\n",
  "HTTP/1.1 503 Busy\r\nConnection: close\r\nAuth-Status: Temporary failure\r\nContent-Length: 5\r\n\r\nbusy!",
];

const HTTP_TOKENS = [
  "\r\n", "\n", "\r", ":", " ", "  ", "\t", "HTTP/", "HTTP/1.1 200 OK\r\n", "Auth-Status: ", "OK", "WAIT", "Auth-Wait: ",
  "Auth-Server: ", "Auth-Port: ", "Auth-Pass: ", "Auth-User: ", "99999999999999999999", "-1", "0x10", "::ffff:1.2.3.4",
  "Content-Length: ", "Transfer-Encoding: chunked", "Connection: close", "\0", "\xff", "%", "[::1]", "fe80::1%eth0",
];

const contexts = fc.record({
  protocol: fc.constantFrom("imap" as const, "pop3" as const, "smtp" as const),
  method: fc.constantFrom("plain" as const, "apop" as const, "cram-md5" as const, "external" as const, "none" as const, "xoauth2" as const),
  peer: fc.constant("127.0.0.1:9000"),
  defaultBackend: fc.option(fc.constant({ host: "127.0.0.1", port: 143 }), { nil: undefined }),
}) as fc.Arbitrary<DecisionContext>;

/** Feed the chunks; the first verdict and, after a complete head, every byte behind it. */
function verdict(chunks: string[]): { result: HeadParseResult; after: string } {
  const parser = new ResponseHeadParser();
  let result: HeadParseResult = { type: "more" };
  let after = "";
  for (const chunk of chunks) {
    if (result.type === "more") {
      result = parser.feed(chunk);
      if (result.type === "done") after = result.rest;
    } else if (result.type === "done") after += chunk;
  }
  return { result: result.type === "done" ? { ...result, rest: "" } : result, after };
}

describe("auth_http answer reader under fuzzing", () => {
  const input = hostileInput(ANSWERS, HTTP_TOKENS, 1500);

  test("never throws: any answer is read, judged and its body framing decided", () => {
    fc.assert(
      fc.property(input, contexts, (text, ctx) => {
        const result = new ResponseHeadParser().feed(text);
        if (result.type === "error") assert.match(headErrorReason(result.error, ctx.peer), /^auth http server /);
        if (result.type !== "done") return;
        const decision = decideAuthResponse(result.head, ctx);
        assert.ok(["ok", "error", "internal", "wait", "resolve"].includes(decision.type), decision.type);
        if (decision.type === "ok" || decision.type === "resolve") {
          assert.ok(Number.isInteger(decision.port) && decision.port > 0 && decision.port < 65536, `port ${decision.port}`);
        }
        if (decision.type === "wait") assert.ok(Number.isFinite(decision.seconds) && decision.seconds >= 0);
        const reuse = connectionReuse(result.head);
        const drain = new BodyDrain(reuse.framing);
        drain.feed(result.rest);
      }),
      runs(3000),
    );
  });

  test("a verdict comes by MAX_RESPONSE_HEAD bytes at the latest", () => {
    fc.assert(
      fc.property(input, fc.integer({ min: 0, max: 2 * MAX_RESPONSE_HEAD }), (text, pad) => {
        // Pad with header-looking bytes so the block is long enough to need a verdict.
        const long = text + "X-Pad: " + "a".repeat(pad + MAX_RESPONSE_HEAD);
        const parser = new ResponseHeadParser();
        const result = parser.feed(long);
        assert.notEqual(result.type, "more");
      }),
      runs(1000),
    );
  });

  test("reads the same answer cut at every byte offset and byte by byte", () => {
    fc.assert(
      fc.property(hostileInput(ANSWERS, HTTP_TOKENS, 300), (text) => {
        const whole = verdict([text]);
        for (const chunks of everySplit(text)) assert.deepEqual(verdict(chunks), whole);
      }),
      runs(300),
    );
  });

  test("the body drain ends in the same state however the body is cut", () => {
    const bodies = ["5\r\nhello\r\n0\r\n\r\n", "0\r\n\r\n", "a;ext=1\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", "hello"];
    fc.assert(
      fc.property(hostileInput(bodies, ["\r\n", ";", "0", "ffffffff", "zz", "\n"], 200), fc.constantFrom(0, 5, 200), fc.boolean(), (body, length, chunked) => {
        const framing = chunked ? { kind: "chunked" as const } : { kind: "length" as const, length };
        const end = (chunks: string[]) => {
          const drain = new BodyDrain(framing);
          let state = drain.current;
          for (const c of chunks) state = drain.feed(c);
          return state;
        };
        const whole = end([body]);
        for (const chunks of everySplit(body)) assert.equal(end(chunks), whole, JSON.stringify(chunks));
      }),
      runs(300),
    );
  });
});
