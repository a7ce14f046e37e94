/**
 * The IMAP, POP3, SMTP and ManageSieve pre-auth machines fuzzed with fast-check over random,
 * token-soup and mutated valid dialogues: nothing throws, every command line is
 * answered (or the connection closed), the machine always comes back to
 * answering, and the same bytes give the same transcript however they are cut.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { AuthMethodName, StartTls } from "../../src/config/model.ts";
import type { PreauthMachine } from "../../src/protocols/types.ts";
import { ImapPreauth } from "../../src/protocols/imap/preauth.ts";
import { Pop3Preauth } from "../../src/protocols/pop3/preauth.ts";
import { SmtpPreauth } from "../../src/protocols/smtp/preauth.ts";
import { SievePreauth } from "../../src/protocols/sieve/preauth.ts";
import { cutAt, everySplit, hostileInput, PROTOCOL_TOKENS, runs } from "../support/fuzz.ts";
import { MachineDriver, transcriptOf } from "../support/machine_driver.ts";

const SALT = "<1896.697170952@mx.example.com>";
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const XOAUTH2 = b64("user=john\x01auth=Bearer tok\x01\x01");
const OAUTHBEARER = b64("n,a=john,\x01auth=Bearer tok\x01\x01");
const CRAM = b64("john 0123456789abcdef0123456789abcdef");

const IMAP_CORPUS = [
  "a1 CAPABILITY\r\n",
  "a2 NOOP\r\n",
  "a3 LOGIN john secret\r\n",
  'a4 LOGIN "jo\\"hn" "pa ss"\r\n',
  "a5 LOGIN {4}\r\njohn {6}\r\nsecret\r\n",
  "a6 LOGIN {4+}\r\njohn {6+}\r\nsecret\r\n",
  "a7 AUTHENTICATE PLAIN\r\nAGpvaG4Ac2VjcmV0\r\n",
  "a8 AUTHENTICATE PLAIN AGpvaG4Ac2VjcmV0\r\n",
  "a9 AUTHENTICATE LOGIN\r\nam9obg==\r\nc2VjcmV0\r\n",
  `b1 AUTHENTICATE CRAM-MD5\r\n${CRAM}\r\n`,
  "b2 STARTTLS\r\n",
  "b3 LOGOUT\r\n",
  `b4 AUTHENTICATE XOAUTH2 ${XOAUTH2}\r\nAQ==\r\n`,
  `b5 AUTHENTICATE OAUTHBEARER\r\n${OAUTHBEARER}\r\n\r\n`,
  "b6 AUTHENTICATE EXTERNAL =\r\n",
  "b7 AUTHENTICATE LOGIN\r\n*\r\n",
];

const POP3_CORPUS = [
  "CAPA\r\n",
  "USER john\r\nPASS secret\r\n",
  "APOP john 0123456789abcdef0123456789abcdef\r\n",
  "AUTH\r\n",
  "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n",
  "AUTH LOGIN\r\nam9obg==\r\nc2VjcmV0\r\n",
  `AUTH CRAM-MD5\r\n${CRAM}\r\n`,
  `AUTH XOAUTH2 ${XOAUTH2}\r\nAQ==\r\n`,
  `AUTH OAUTHBEARER\r\n${OAUTHBEARER}\r\n`,
  "STLS\r\n",
  "NOOP\r\n",
  "QUIT\r\n",
];

const SMTP_CORPUS = [
  "EHLO client.example\r\n",
  "HELO client.example\r\n",
  "AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n",
  "AUTH LOGIN\r\nam9obg==\r\nc2VjcmV0\r\n",
  `AUTH CRAM-MD5\r\n${CRAM}\r\n`,
  `AUTH XOAUTH2 ${XOAUTH2}\r\nAQ==\r\n`,
  "MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n",
  "STARTTLS\r\n",
  "RSET\r\n",
  "NOOP\r\n",
  "VRFY x\r\n",
  "DATA\r\n",
  "QUIT\r\n",
];

const SIEVE_CORPUS = [
  "CAPABILITY\r\n",
  'NOOP "tag"\r\n',
  'AUTHENTICATE "PLAIN" "AGpvaG4Ac2VjcmV0"\r\n',
  'AUTHENTICATE "PLAIN" {16+}\r\nAGpvaG4Ac2VjcmV0\r\n',
  'AUTHENTICATE "PLAIN"\r\n{16}\r\nAGpvaG4Ac2VjcmV0\r\n',
  'AUTHENTICATE "LOGIN"\r\n"am9obg=="\r\n"c2VjcmV0"\r\n',
  `AUTHENTICATE "XOAUTH2" "${XOAUTH2}"\r\n"AQ=="\r\n`,
  `AUTHENTICATE "OAUTHBEARER"\r\n"${OAUTHBEARER}"\r\n`,
  'AUTHENTICATE "EXTERNAL" ""\r\n',
  'AUTHENTICATE "PLAIN"\r\n"*"\r\n',
  'PUTSCRIPT "s" {9+}\r\nLOGOUT\r\n\r\n',
  "STARTTLS\r\n",
  "LOGOUT\r\n",
];

const ALL_METHODS: AuthMethodName[] = ["plain", "login", "cram-md5", "external", "xoauth2", "oauthbearer"];

interface MachineConfig {
  methods: AuthMethodName[];
  starttls: StartTls;
  implicitTls: boolean;
  maxErrors: number;
  buffer: number;
  closeAfterFailure: boolean;
}

const machineConfig: fc.Arbitrary<MachineConfig> = fc.record({
  methods: fc.subarray(ALL_METHODS, { minLength: 1 }),
  starttls: fc.constantFrom<StartTls>("off", "on", "only"),
  implicitTls: fc.boolean(),
  maxErrors: fc.constantFrom(1, 3, 100_000),
  buffer: fc.constantFrom(64, 300),
  closeAfterFailure: fc.boolean(),
});

interface Protocol {
  name: string;
  corpus: string[];
  make(c: MachineConfig): PreauthMachine;
  /** The command that ends a dialogue in the not-authenticated state. */
  quit: string;
  /** Bytes per command the machine buffers at most (the filler must outlast a pending literal). */
  limit(c: MachineConfig): number;
}

const PROTOCOLS: Protocol[] = [
  {
    name: "IMAP",
    corpus: IMAP_CORPUS,
    make: (c) =>
      new ImapPreauth({
        imap_auth: c.methods,
        imap_capabilities: ["IMAP4", "IMAP4rev1", "UIDPLUS"],
        imap_client_buffer: c.buffer,
        max_errors: c.maxErrors,
        starttls: c.starttls,
        server_name: "mx.example.com",
        implicitTls: c.implicitTls,
      }, () => SALT),
    quit: "zz LOGOUT\r\n",
    limit: (c) => c.buffer,
  },
  {
    name: "POP3",
    corpus: POP3_CORPUS,
    make: (c) =>
      new Pop3Preauth({
        pop3_auth: [...c.methods, "apop"],
        pop3_capabilities: ["TOP", "USER", "UIDL"],
        max_errors: c.maxErrors,
        starttls: c.starttls,
        server_name: "mx.example.com",
        implicitTls: c.implicitTls,
        makeSalt: () => SALT,
      }),
    quit: "QUIT\r\n",
    limit: () => 8192,
  },
  {
    name: "SMTP",
    corpus: SMTP_CORPUS,
    make: (c) =>
      new SmtpPreauth({
        smtp_auth: c.maxErrors === 3 ? [...c.methods, "none"] : c.methods,
        smtp_capabilities: ["SIZE 10485760", "8BITMIME"],
        smtp_client_buffer: c.buffer,
        max_errors: c.maxErrors,
        starttls: c.starttls,
        server_name: "mx.example.com",
        implicitTls: c.implicitTls,
        makeSalt: () => SALT,
      }),
    quit: "QUIT\r\n",
    limit: (c) => c.buffer,
  },
  {
    name: "ManageSieve",
    corpus: SIEVE_CORPUS,
    make: (c) =>
      new SievePreauth({
        sieve_auth: c.methods.filter((m) => m !== "cram-md5"),
        sieve_capabilities: ["fileinto", "enotify"],
        sieve_client_buffer: c.buffer,
        max_errors: c.maxErrors,
        starttls: c.starttls,
        implicitTls: c.implicitTls,
      }),
    quit: "LOGOUT\r\n",
    limit: (c) => c.buffer,
  },
];

/** Complete lines of `text` (each with its LF); a trailing fragment without LF is left out. */
function completeLines(text: string): string[] {
  const lines = text.split(/(?<=\n)/);
  return lines.filter((l) => l.endsWith("\n"));
}

for (const protocol of PROTOCOLS) {
  const input = hostileInput(protocol.corpus, PROTOCOL_TOKENS);
  const make = (c: MachineConfig) => () => protocol.make(c);

  describe(`${protocol.name} pre-auth machine under fuzzing`, () => {
    test("no input makes it throw, and its actions keep the feed() contract", () => {
      fc.assert(
        fc.property(machineConfig, input, input, fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }), (c, text, afterTls, cuts) => {
          transcriptOf(make(c), cutAt(text, cuts), c, afterTls);
        }),
        runs(2000),
      );
    });

    test("every complete command line is answered or closes the connection", () => {
      fc.assert(
        fc.property(machineConfig, input, (c, text) => {
          // An IMAP or ManageSieve literal legitimately swallows lines of data without a reply.
          if ((protocol.name === "IMAP" || protocol.name === "ManageSieve") && text.includes("{")) return;
          const driver = new MachineDriver(protocol.make(c), c);
          for (const line of completeLines(text)) {
            if (driver.stopped) break;
            const steps = driver.feed(line);
            assert.ok(steps.length > 0, `no answer to ${JSON.stringify(line)}`);
          }
        }),
        runs(2000),
      );
    });

    test("after any input the machine comes back to answering: a quit at the end closes the connection", () => {
      fc.assert(
        fc.property(machineConfig, input, (c, text) => {
          const driver = new MachineDriver(protocol.make(c), c);
          driver.feed(text);
          driver.tlsDone();
          // Empty lines end any pending literal, SASL exchange or OAuth error challenge.
          driver.feed("\r\n".repeat(Math.ceil(protocol.limit(c) / 2) + 2));
          driver.tlsDone();
          driver.feed(protocol.quit);
          const last = driver.transcript[driver.transcript.length - 1];
          assert.ok(driver.stopped, `still reading after ${JSON.stringify(text)}: ${JSON.stringify(driver.transcript.slice(-3))}`);
          assert.ok(last?.type === "close" || last?.type === "send" || last?.type === "auth-refused", JSON.stringify(last));
          // A close after a refused login is the session's; any other is the machine's, which then reads nothing.
          if (last?.type === "close" && last.reason !== "login-failed") {
            assert.deepEqual(driver.machine.feed("a1 NOOP\r\nNOOP\r\n"), [], "nothing is read after a close");
          }
        }),
        runs(1000),
      );
    });

    test("the same bytes give the same transcript cut at every byte offset and byte by byte", () => {
      fc.assert(
        fc.property(machineConfig, input, (c, text) => {
          const whole = transcriptOf(make(c), [text], c);
          for (const chunks of everySplit(text)) {
            assert.deepEqual(transcriptOf(make(c), chunks, c), whole, `cut as ${JSON.stringify(chunks.length > 2 ? "bytes" : chunks)}`);
          }
        }),
        runs(400),
      );
    });
  });
}
