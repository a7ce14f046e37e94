/**
 * `feed(bytes, maxActions)`, which the session uses to answer pipelined
 * commands a batch at a time: each protocol's machine stops once that many
 * actions are due, keeps the rest buffered, and fed step by step says exactly
 * what it says to the whole pipeline at once, max_errors close included.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { effectiveServers, loadConfigText } from "../../src/config/load.ts";
import { createPreauth } from "../../src/protocols/factory.ts";
import type { Action, PreauthMachine } from "../../src/protocols/types.ts";

function machine(protocol: "imap" | "pop3" | "smtp"): PreauthMachine {
  const { config } = loadConfigText(
    `mail { server_name mx.example.com; auth_http http://127.0.0.1:1/auth; max_errors 2;
      server { listen 127.0.0.1:1; protocol ${protocol}; pop3_capabilities TOP USER; smtp_capabilities SIZE; } }`,
    "/test/mailproxy.conf",
  );
  const m = createPreauth(effectiveServers(config)[0]!, false);
  m.greeting();
  return m;
}

const pipelines = {
  imap: {
    input: "a CAPABILITY\r\nb NOOP\r\nc FOO\r\nd NOOP\r\ne BAR\r\nf NOOP\r\n",
    replies: [
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\na OK completed\r\n",
      "b OK completed\r\n",
      "c BAD invalid command\r\n",
      "d OK completed\r\n",
      "e BAD invalid command\r\n",
    ],
  },
  pop3: {
    input: "CAPA\r\nNOOP\r\nFOO\r\nNOOP\r\nBAR\r\nNOOP\r\n",
    replies: [
      "+OK Capability list follows\r\nTOP\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n",
      "+OK\r\n",
      "-ERR invalid command\r\n",
      "+OK\r\n",
      "-ERR invalid command\r\n",
    ],
  },
  smtp: {
    input: "EHLO x\r\nNOOP\r\nFOO\r\nNOOP\r\nBAR\r\nNOOP\r\n",
    replies: [
      "250-mx.example.com\r\n250-SIZE\r\n250 AUTH PLAIN LOGIN\r\n",
      "250 2.0.0 OK\r\n",
      "500 5.5.1 Invalid command\r\n",
      "250 2.0.0 OK\r\n",
      "500 5.5.1 Invalid command\r\n",
    ],
  },
} as const;

const CLOSE: Action = { type: "close", reason: "too-many-errors" };

for (const [protocol, { input, replies }] of Object.entries(pipelines) as Array<[keyof typeof pipelines, typeof pipelines.imap]>) {
  describe(`${protocol.toUpperCase()} feed with a budget`, () => {
    const expected: Action[] = [...replies.map((data) => ({ type: "send", data }) as Action), CLOSE];

    test("the whole pipeline at once: every reply, the second syntax error closes, the last command is never answered", () => {
      assert.deepEqual(machine(protocol).feed(input), expected);
    });

    test("one action at a time gives the same replies, each feed answering one command", () => {
      const m = machine(protocol);
      const steps = [m.feed(input, 1)];
      for (let next = m.feed("", 1); next.length > 0; next = m.feed("", 1)) steps.push(next);
      assert.deepEqual(steps, [...expected.slice(0, -2).map((a) => [a]), expected.slice(-2)]);
    });

    test("a budget of 0 only buffers: the commands are answered by the next feed", () => {
      const m = machine(protocol);
      assert.deepEqual(m.feed(input, 0), []);
      assert.deepEqual(m.feed(""), expected);
    });
  });
}
