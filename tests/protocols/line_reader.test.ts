import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { type LineEvent, LineReader } from "../../src/protocols/line_reader.ts";

function readAll(reader: LineReader): LineEvent[] {
  const events: LineEvent[] = [];
  for (let e = reader.next(); e !== null; e = reader.next()) events.push(e);
  return events;
}

/** Events from feeding `input` in the given fragments. */
function eventsOf(limit: number, fragments: string[]): LineEvent[] {
  const reader = new LineReader(limit);
  const events: LineEvent[] = [];
  for (const f of fragments) {
    reader.push(f);
    events.push(...readAll(reader));
  }
  return events;
}

/** Same events whatever the split point, and byte by byte. */
function eventsEverySplit(limit: number, input: string): LineEvent[] {
  const whole = eventsOf(limit, [input]);
  for (let i = 1; i < input.length; i++) {
    assert.deepEqual(eventsOf(limit, [input.slice(0, i), input.slice(i)]), whole, `split at ${i}`);
  }
  assert.deepEqual(eventsOf(limit, [...input]), whole, "byte by byte");
  return whole;
}

const line = (text: string, bareCr = false): LineEvent => ({ type: "line", text, bareCr });

describe("LineReader", () => {
  test("lines end at CRLF or a bare LF and the line end is not part of the text", () => {
    assert.deepEqual(eventsEverySplit(128, "NOOP\r\nCAPA\nQUIT\r\n"), [line("NOOP"), line("CAPA"), line("QUIT")]);
  });

  test("an unterminated line waits for more bytes", () => {
    const reader = new LineReader(128);
    reader.push("NOOP\r");
    assert.equal(reader.next(), null);
    reader.push("\n");
    assert.deepEqual(reader.next(), line("NOOP"));
  });

  test("a CR not followed by LF is reported and the line still runs to the LF", () => {
    assert.deepEqual(eventsEverySplit(128, "NO\rOP\r\nUSER a\rb\nCAPA\r\r\n"), [
      line("NO\rOP", true),
      line("USER a\rb", true),
      line("CAPA\r", true),
    ]);
  });

  test("an empty line is a line", () => {
    assert.deepEqual(eventsEverySplit(128, "\r\n\n"), [line(""), line("")]);
  });

  test("a line of exactly the limit including CRLF is accepted", () => {
    const text = "USER " + "x".repeat(121);
    assert.equal(text.length + 2, 128);
    assert.deepEqual(eventsEverySplit(128, text + "\r\n"), [line(text)]);
  });

  test("a line of exactly the limit including a bare LF is accepted", () => {
    const text = "x".repeat(127);
    assert.deepEqual(eventsEverySplit(128, text + "\n"), [line(text)]);
  });

  test("one byte over the limit is too long, reported once, and nothing follows", () => {
    const text = "USER " + "x".repeat(122);
    assert.deepEqual(eventsEverySplit(128, text + "\r\nNOOP\r\n"), [{ type: "too-long" }]);
  });

  test("a limit-sized fragment without LF is too long before the line ends", () => {
    assert.deepEqual(eventsOf(8, ["12345678"]), [{ type: "too-long" }]);
    assert.deepEqual(eventsOf(8, ["1234567"]), []);
  });

  test("the limit applies per line, not to pipelined data", () => {
    const input = "NOOP\r\n".repeat(10);
    assert.deepEqual(eventsEverySplit(8, input), Array(10).fill(line("NOOP")));
  });

  test("takeRest hands out unread bytes once", () => {
    const reader = new LineReader(128);
    reader.push("PASS x\r\nMAIL FROM:<a>\r\nRC");
    assert.deepEqual(reader.next(), line("PASS x"));
    assert.equal(reader.takeRest(), "MAIL FROM:<a>\r\nRC");
    assert.equal(reader.takeRest(), "");
    assert.equal(reader.next(), null);
  });

  test("clear drops buffered bytes", () => {
    const reader = new LineReader(128);
    reader.push("STLS\r\nUSER injected\r\n");
    assert.deepEqual(reader.next(), line("STLS"));
    reader.clear();
    assert.equal(reader.next(), null);
    reader.push("CAPA\r\n");
    assert.deepEqual(reader.next(), line("CAPA"));
  });

  test("bytes above 0x7F are kept byte-exact", () => {
    assert.deepEqual(eventsEverySplit(128, "USER \xd0\xbf\xff\r\n"), [line("USER \xd0\xbf\xff")]);
  });
});
