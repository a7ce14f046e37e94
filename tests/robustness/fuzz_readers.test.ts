/**
 * The incremental readers under the machines (IMAP and ManageSieve command readers,
 * POP3/SMTP line reader), the command parsers and the SASL exchange, fuzzed: nothing
 * throws, every line ends in an event, and the events do not depend on how the
 * bytes were cut.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { ImapCommandReader, type ImapReaderEvent } from "../../src/protocols/imap/command_reader.ts";
import { SieveCommandReader, type SieveReaderEvent } from "../../src/protocols/sieve/command_reader.ts";
import { type LineEvent, LineReader } from "../../src/protocols/line_reader.ts";
import { parsePop3Command } from "../../src/protocols/pop3/command.ts";
import { parseSmtpCommand } from "../../src/protocols/smtp/command.ts";
import { encodeBase64 } from "../../src/wire/sasl.ts";
import { decodeBase64, SaslExchange, type SaslMechanism, type SaslResult } from "../../src/protocols/sasl.ts";
import { binary, everySplit, hostileInput, PROTOCOL_TOKENS, runs } from "../support/fuzz.ts";

const IMAP_COMMANDS = [
  "a1 LOGIN john secret\r\n",
  'a2 LOGIN "jo\\"hn" "pa ss"\r\n',
  "a3 LOGIN {4}\r\njohn {6}\r\nsecret\r\n",
  "a4 LOGIN {4+}\r\njohn {0}\r\n\r\n",
  "a5 AUTHENTICATE PLAIN AGpvaG4Ac2VjcmV0\r\n",
  "a6 CAPABILITY\r\n",
  "a7 NOOP\n",
];

/** Every event the reader gives for `chunks` pushed in order (`lineAfter`: a SASL line follows that event index). */
function imapEvents(chunks: string[], limit: number, lineAfter: Set<number>): ImapReaderEvent[] {
  const reader = new ImapCommandReader(limit);
  const events: ImapReaderEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let e = reader.next(); e; e = reader.next()) {
      events.push(e);
      if (lineAfter.has(events.length) && e.type === "command") reader.expectLine();
    }
  }
  return events;
}

function lineEvents(chunks: string[], limit: number): LineEvent[] {
  const reader = new LineReader(limit);
  const events: LineEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let e = reader.next(); e; e = reader.next()) events.push(e);
  }
  return events;
}

const limits = fc.constantFrom(16, 64, 4096);

describe("IMAP command reader under fuzzing", () => {
  const input = hostileInput(IMAP_COMMANDS, PROTOCOL_TOKENS);
  const lineAfter = fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }).map((a) => new Set(a));

  test("never throws, and each event is one of the documented shapes", () => {
    fc.assert(
      fc.property(input, limits, lineAfter, (text, limit, after) => {
        for (const e of imapEvents([text], limit, after)) {
          assert.ok(["command", "literal-continue", "line", "invalid", "too-long"].includes(e.type));
          if (e.type === "command") assert.ok(e.args.length <= 3, "at most three arguments");
        }
      }),
      runs(3000),
    );
  });

  test("a line without literals always ends in an event once its LF arrives", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const line = text.replace(/[{\n]/g, "") + "\n";
        const events = imapEvents([line], limit, new Set());
        const last = events[events.length - 1];
        assert.ok(last && last.type !== "literal-continue", `no event for ${JSON.stringify(line)}`);
      }),
      runs(3000),
    );
  });

  test("gives the same events cut at every byte offset and byte by byte", () => {
    fc.assert(
      fc.property(input, limits, lineAfter, (text, limit, after) => {
        const whole = imapEvents([text], limit, after);
        for (const chunks of everySplit(text)) assert.deepEqual(imapEvents(chunks, limit, after), whole);
      }),
      runs(500),
    );
  });
});

const SIEVE_COMMANDS = [
  'AUTHENTICATE "PLAIN" "AGpvaG4Ac2VjcmV0"\r\n',
  'AUTHENTICATE "PLAIN" {16+}\r\nAGpvaG4Ac2VjcmV0\r\n',
  '"am9obg=="\r\n',
  '{4}\r\nam9o\r\n',
  'NOOP "a\\"b"\r\n',
  'HAVESPACE "s" 100\r\n',
  "CAPABILITY\n",
];

function sieveEvents(chunks: string[], limit: number): SieveReaderEvent[] {
  const reader = new SieveCommandReader(limit);
  const events: SieveReaderEvent[] = [];
  for (const chunk of chunks) {
    reader.push(chunk);
    for (let e = reader.next(); e; e = reader.next()) events.push(e);
  }
  return events;
}

describe("ManageSieve command reader under fuzzing", () => {
  const input = hostileInput(SIEVE_COMMANDS, PROTOCOL_TOKENS);

  test("never throws; events have the documented shapes; too-long is final", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const events = sieveEvents([text], limit);
        events.forEach((e, i) => {
          assert.ok(["command", "invalid", "too-long"].includes(e.type));
          if (e.type === "command") assert.match(e.name, /^[A-Z]*$/);
          if (e.type === "too-long") assert.equal(i, events.length - 1);
        });
      }),
      runs(3000),
    );
  });

  test("a line without literals always ends in an event once its LF arrives", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const line = text.replace(/[{\n]/g, "") + "\n";
        assert.ok(sieveEvents([line], limit).length > 0, `no event for ${JSON.stringify(line)}`);
      }),
      runs(3000),
    );
  });

  test("gives the same events cut at every byte offset and byte by byte", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const whole = sieveEvents([text], limit);
        for (const chunks of everySplit(text)) assert.deepEqual(sieveEvents(chunks, limit), whole);
      }),
      runs(500),
    );
  });
});

describe("POP3/SMTP line reader and command parsers under fuzzing", () => {
  const input = hostileInput(["USER john\r\n", "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n", "EHLO x\r\n", "MAIL FROM:<a@b> SIZE=1\r\n"], PROTOCOL_TOKENS);

  test("never throws; lines never contain their LF; too-long is final", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const events = lineEvents([text], limit);
        events.forEach((e, i) => {
          if (e.type === "too-long") assert.equal(i, events.length - 1);
          else {
            assert.ok(!e.text.includes("\n") && e.text.length < limit);
            parsePop3Command(e.text);
            parseSmtpCommand(e.text);
          }
        });
      }),
      runs(3000),
    );
  });

  test("gives the same lines cut at every byte offset and byte by byte", () => {
    fc.assert(
      fc.property(input, limits, (text, limit) => {
        const whole = lineEvents([text], limit);
        for (const chunks of everySplit(text)) assert.deepEqual(lineEvents(chunks, limit), whole);
      }),
      runs(500),
    );
  });
});

describe("SASL under fuzzing", () => {
  const MECHANISMS: SaslMechanism[] = ["PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL", "XOAUTH2", "OAUTHBEARER"];
  const b64Like = fc.oneof(
    binary(40).map(encodeBase64),
    fc.string({ unit: fc.constantFrom(..."AZaz09+/= *-_\0\xff"), maxLength: 40 }),
    binary(40),
  );

  test("base64 decoding never throws, returns bytes, and reads back what was encoded", () => {
    fc.assert(
      fc.property(b64Like, binary(64), (text, bytes) => {
        const decoded = decodeBase64(text);
        if (decoded !== null) for (let i = 0; i < decoded.length; i++) assert.ok(decoded.charCodeAt(i) < 256);
        assert.equal(decodeBase64(encodeBase64(bytes)), bytes);
      }),
      runs(3000),
    );
  });

  test("an exchange fed any lines never throws and ends in done or invalid, never in a loop of challenges", () => {
    fc.assert(
      fc.property(fc.constantFrom(...MECHANISMS), fc.option(b64Like), fc.nat(2), fc.array(b64Like, { maxLength: 4 }), (mech, initial, extra, lines) => {
        const sasl = new SaslExchange(mech, () => "<1.2@mx>");
        let result: SaslResult = sasl.begin(initial ?? undefined, extra);
        let challenges = 0;
        for (const line of lines) {
          if (result.type !== "challenge") break;
          challenges++;
          result = sasl.step(line);
        }
        // No mechanism here needs more than two challenges (LOGIN: user name, password).
        assert.ok(challenges <= 2 || result.type !== "challenge");
        if (result.type === "done") {
          assert.ok(typeof result.credentials.user === "string" && typeof result.credentials.pass === "string");
        }
      }),
      runs(3000),
    );
  });
});
