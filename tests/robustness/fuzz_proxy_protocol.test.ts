/**
 * The PROXY protocol v1/v2 header parser fuzzed over random bytes, mutated
 * valid headers and generated v2 headers: it never throws, reaches a verdict
 * by MAX_HEADER bytes, and decides the same however the header arrives.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import fc from "fast-check";
import { MAX_HEADER, parseProxyHeader, type ProxyHeaderResult, V2_SIGNATURE } from "../../src/server/proxy_protocol_in.ts";
import { binary, everySplit, hostileInput, runs } from "../support/fuzz.ts";

function v2(command: number, family: number, body: Buffer): Buffer {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = 0x20 | command;
  head[13] = family;
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}

const V4_BODY = Buffer.from([192, 0, 2, 1, 10, 0, 0, 1, 0x30, 0x39, 0x00, 0x8f]);
const V6_BODY = Buffer.concat([Buffer.alloc(15), Buffer.from([1]), Buffer.alloc(15), Buffer.from([2]), Buffer.from([0x30, 0x39, 0x00, 0x8f])]);

const HEADERS = [
  "PROXY TCP4 192.0.2.1 10.0.0.1 12345 143\r\n",
  "PROXY TCP6 2001:db8::1 ::1 12345 993\r\na1 NOOP\r\n",
  "PROXY UNKNOWN\r\n",
  "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n",
  v2(1, 0x11, V4_BODY).toString("latin1"),
  v2(1, 0x21, V6_BODY).toString("latin1") + "* OK",
  v2(0, 0x00, Buffer.alloc(0)).toString("latin1"),
  v2(1, 0x11, Buffer.concat([V4_BODY, Buffer.from([0x04, 0x00, 0x01, 0x00])])).toString("latin1"),
];

const TOKENS = ["PROXY ", "TCP4 ", "TCP6 ", "UNKNOWN", " ", "\r\n", "\n", "\r", "65535", "65536", "0", "::", "1.2.3.4", "\0", "\xff", V2_SIGNATURE.toString("latin1")];

/** v2 headers with any command, family and length field, and a body that may be shorter or longer. */
const generatedV2 = fc.record({
  verCmd: fc.integer({ min: 0, max: 255 }),
  family: fc.constantFrom(0x00, 0x11, 0x12, 0x21, 0x22, 0x31, 0xff),
  length: fc.oneof(fc.integer({ min: 0, max: 64 }), fc.constantFrom(MAX_HEADER - 16, MAX_HEADER - 15, 65535)),
  body: fc.uint8Array({ maxLength: 80 }),
}).map(({ verCmd, family, length, body }) => {
  const head = Buffer.alloc(16);
  V2_SIGNATURE.copy(head);
  head[12] = verCmd;
  head[13] = family;
  head.writeUInt16BE(length, 14);
  return Buffer.concat([head, Buffer.from(body)]).toString("latin1");
});

const input = fc.oneof(hostileInput(HEADERS, TOKENS, 200), generatedV2, binary(64).map((b) => "\r" + b));

/**
 * What the socket side decides for these segments: parse the bytes so far
 * (at most MAX_HEADER), wait while the parser needs more and there is room.
 * The broken header's quoted bytes are what had arrived, so only its kind is compared.
 */
function decide(chunks: string[]): ProxyHeaderResult | { type: "more" } {
  let buf = Buffer.alloc(0);
  for (const chunk of chunks) {
    buf = Buffer.concat([buf, Buffer.from(chunk, "latin1")]);
    const r = parseProxyHeader(buf.subarray(0, MAX_HEADER));
    if (r.type === "more" && buf.length < MAX_HEADER) continue;
    if (r.type === "broken") return { type: "broken", data: "" };
    return r;
  }
  return { type: "more" };
}

describe("PROXY protocol header parser under fuzzing", () => {
  test("never throws; a header it accepts fits the buffer and carries valid addresses and ports", () => {
    fc.assert(
      fc.property(input, (text) => {
        const r = parseProxyHeader(Buffer.from(text, "latin1"));
        if (r.type === "broken") assert.ok(r.data.length <= 107);
        if (r.type !== "ok") return;
        assert.ok(r.consumed > 0 && r.consumed <= Math.min(text.length, MAX_HEADER));
        if (r.info) {
          assert.ok(net.isIP(r.info.addr) !== 0, r.info.addr);
          assert.ok(r.info.port >= 0 && r.info.port <= 65535);
          if (r.info.serverAddr !== undefined) assert.ok(net.isIP(r.info.serverAddr) !== 0);
        }
      }),
      runs(4000),
    );
  });

  test("a verdict comes by MAX_HEADER bytes at the latest", () => {
    fc.assert(
      fc.property(input, (text) => {
        const padded = Buffer.concat([Buffer.from(text, "latin1"), Buffer.alloc(MAX_HEADER, 0x41)]);
        assert.notEqual(parseProxyHeader(padded.subarray(0, MAX_HEADER)).type, "more");
      }),
      runs(1000),
    );
  });

  test("decides the same cut at every byte offset and byte by byte", () => {
    fc.assert(
      fc.property(input, (text) => {
        const whole = decide([text]);
        for (const chunks of everySplit(text)) assert.deepEqual(decide(chunks), whole);
      }),
      runs(300),
    );
  });
});
