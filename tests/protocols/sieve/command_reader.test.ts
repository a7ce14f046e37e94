import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SieveCommandReader, type SieveReaderEvent } from "../../../src/protocols/sieve/command_reader.ts";

/** Every event the reader yields for `chunks` pushed in order. */
function events(chunks: string[], limit = 4096): SieveReaderEvent[] {
  const reader = new SieveCommandReader(limit);
  const out: SieveReaderEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let e = reader.next(); e; e = reader.next()) out.push(e);
  }
  return out;
}

/** The same events whether `input` arrives whole, split anywhere, or byte by byte. */
function eventsEveryWay(input: string, limit = 4096): SieveReaderEvent[] {
  const whole = events([input], limit);
  for (let k = 1; k < input.length; k++) {
    assert.deepEqual(events([input.slice(0, k), input.slice(k)], limit), whole, `split at ${k}`);
  }
  assert.deepEqual(events(input.split(""), limit), whole, "byte by byte");
  return whole;
}

describe("SieveCommandReader", () => {
  test("a command yields its upper-case name and its string arguments, quoted or literal", () => {
    assert.deepEqual(eventsEveryWay('authenticate "PLAIN" {18+}\r\nAGFsaWNlAHNlY3JldA\r\nNOOP\r\n'), [
      { type: "command", name: "AUTHENTICATE", args: ["PLAIN", "AGFsaWNlAHNlY3JldA"] },
      { type: "command", name: "NOOP", args: [] },
    ]);
  });

  test("a synchronising literal {n} is read the same way, with no continuation", () => {
    assert.deepEqual(eventsEveryWay('NOOP {3}\r\na\r\n\r\n'), [{ type: "command", name: "NOOP", args: ["a\r\n"] }]);
  });

  test("quoted strings unescape \\\" and \\\\ only; any other escape is a syntax error", () => {
    assert.deepEqual(eventsEveryWay('NOOP "a\\"b\\\\c"\r\nNOOP "a\\nb"\r\nCAPABILITY\r\n'), [
      { type: "command", name: "NOOP", args: ['a"b\\c'] },
      { type: "invalid" },
      { type: "command", name: "CAPABILITY", args: [] },
    ]);
  });

  test("atoms (numbers) are arguments; a bare LF ends a line too", () => {
    assert.deepEqual(eventsEveryWay('HAVESPACE "s" 1000\nLOGOUT\n'), [
      { type: "command", name: "HAVESPACE", args: ["s", "1000"] },
      { type: "command", name: "LOGOUT", args: [] },
    ]);
  });

  test("a line of strings only is a SASL response: no command word", () => {
    assert.deepEqual(eventsEveryWay('"AGFsaWNl"\r\n{2+}\r\n*a\r\n'), [
      { type: "command", name: "", args: ["AGFsaWNl"] },
      { type: "command", name: "", args: ["*a"] },
    ]);
  });

  test("syntax errors skip the line; a literal the line announced is data, never a command", () => {
    assert.deepEqual(eventsEveryWay('1NOOP\r\nPUTSCRIPT "x"y {9+}\r\nLOGOUT\r\n\r\nNOOP\r\n\r\n'), [
      { type: "invalid" },
      { type: "invalid" },
      { type: "command", name: "NOOP", args: [] },
      { type: "invalid" },
    ]);
  });

  test("a string glued to the command word, a NUL or a CR inside a quoted string are syntax errors", () => {
    assert.deepEqual(eventsEveryWay('NOOP"x"\r\nNOOP "a\0b"\r\nNOOP "a\rb"\r\n'), [
      { type: "invalid" },
      { type: "invalid" },
      { type: "invalid" },
    ]);
  });

  test("a command past the limit, literal included, is too long and the reader stops", () => {
    assert.deepEqual(eventsEveryWay("NOOP {100+}\r\n" + "x".repeat(100) + "\r\nNOOP\r\n", 64), [{ type: "too-long" }]);
    assert.deepEqual(eventsEveryWay("NOOP " + "a".repeat(70) + "\r\n", 64), [{ type: "too-long" }]);
  });

  test("takeBuffered returns what no event consumed", () => {
    const reader = new SieveCommandReader(4096);
    reader.push('NOOP\r\nGETSCRIPT "x"\r\n');
    assert.deepEqual(reader.next(), { type: "command", name: "NOOP", args: [] });
    assert.equal(reader.takeBuffered(), 'GETSCRIPT "x"\r\n');
  });
});
