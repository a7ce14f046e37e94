import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ImapCommandReader, type ImapReaderEvent } from "../../../src/protocols/imap/command_reader.ts";

/** Every event the reader yields for `input`, pushed in `chunks`. */
function events(chunks: string[], limit = 4096): ImapReaderEvent[] {
  const reader = new ImapCommandReader(limit);
  const out: ImapReaderEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let e = reader.next(); e; e = reader.next()) out.push(e);
  }
  return out;
}

/** The same events whether `input` arrives whole, split anywhere, or byte by byte. */
function eventsEveryWay(input: string, limit = 4096): ImapReaderEvent[] {
  const whole = events([input], limit);
  for (let k = 1; k < input.length; k++) {
    assert.deepEqual(events([input.slice(0, k), input.slice(k)], limit), whole, `split at ${k}`);
  }
  assert.deepEqual(events(input.split(""), limit), whole, "byte by byte");
  return whole;
}

describe("ImapCommandReader", () => {
  test("a command yields its tag with the trailing space, upper-case name and arguments", () => {
    assert.deepEqual(eventsEveryWay('a1 login "john" {6+}\r\nsecret\r\n'), [
      { type: "command", tag: "a1 ", name: "LOGIN", args: ["john", "secret"] },
    ]);
  });

  test("a synchronising literal yields a continuation before the data arrives", () => {
    const reader = new ImapCommandReader(4096);
    reader.push("a1 LOGIN {4}\r\n");
    assert.deepEqual(reader.next(), { type: "literal-continue" });
    assert.equal(reader.next(), null);
    reader.push("john x\r\n");
    assert.deepEqual(reader.next(), { type: "command", tag: "a1 ", name: "LOGIN", args: ["john", "x"] });
  });

  test("nothing is yielded for an incomplete line", () => {
    assert.deepEqual(events(["a1 NOOP", "\r"]), []);
  });

  test("a syntax error reports the tag and whether the line ended in {N+}", () => {
    assert.deepEqual(eventsEveryWay("a1 FOO\r\nb FOO {3+}\r\n*\r\n"), [
      { type: "invalid", tag: "a1 ", endsInNonSyncLiteral: false },
      { type: "invalid", tag: "b ", endsInNonSyncLiteral: true },
      { type: "invalid", tag: "", endsInNonSyncLiteral: false },
    ]);
  });

  test("after expectLine the next line is returned raw, then commands resume", () => {
    const reader = new ImapCommandReader(4096);
    reader.push("a1 AUTHENTICATE PLAIN\r\nAG\"x {3} y\r\na2 NOOP\r\n");
    assert.deepEqual(reader.next(), { type: "command", tag: "a1 ", name: "AUTHENTICATE", args: ["PLAIN"] });
    reader.expectLine();
    assert.deepEqual(reader.next(), { type: "line", text: 'AG"x {3} y' });
    assert.deepEqual(reader.next(), { type: "command", tag: "a2 ", name: "NOOP", args: [] });
  });

  test("an empty SASL line is an empty text", () => {
    const reader = new ImapCommandReader(4096);
    reader.expectLine();
    reader.push("\n");
    assert.deepEqual(reader.next(), { type: "line", text: "" });
  });

  test("too-long stops the reader", () => {
    const reader = new ImapCommandReader(8);
    reader.push("a1 NOOPXX\r\na2 NOOP\r\n");
    assert.deepEqual(reader.next(), { type: "too-long", tag: "a1 " });
    assert.equal(reader.next(), null);
    reader.push("a3 NOOP\r\n");
    assert.equal(reader.next(), null);
  });

  test("takeBuffered returns exactly the bytes after the last yielded command", () => {
    const reader = new ImapCommandReader(4096);
    reader.push("a1 NOOP\r\na2 SEL");
    reader.next();
    assert.equal(reader.next(), null);
    assert.equal(reader.takeBuffered(), "a2 SEL");
    assert.equal(reader.takeBuffered(), "");
  });

  test("reset forgets a partial command", () => {
    const reader = new ImapCommandReader(4096);
    reader.push("a1 LOGIN {10}\r\nabc");
    reader.next();
    reader.reset();
    reader.push("a2 NOOP\r\n");
    assert.deepEqual(reader.next(), { type: "command", tag: "a2 ", name: "NOOP", args: [] });
  });
});
