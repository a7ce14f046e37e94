import { test } from "node:test";
import assert from "node:assert/strict";
import type { Action } from "../../../src/protocols/types.ts";
import { feedEveryWay, imapMachine } from "../../support/imap_machine.ts";

/** mulberry32: a small seeded generator so failures reproduce. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const PIECES = [
  "a1 ", "x ", "* ", "LOGIN ", "AUTHENTICATE ", "CAPABILITY", "NOOP", "LOGOUT", "STARTTLS", "PLAIN", "LOGIN", "CRAM-MD5",
  "EXTERNAL", "{3}", "{2+}", "{0}", "{99999}", '"', "\\", " ", "\r", "\n", "\r\n", "AGpvaG4Ac2VjcmV0", "=", "+}", "{",
];

test("random input never makes the machine throw, and every reply ends in CRLF", () => {
  const random = rng(20240611);
  for (let round = 0; round < 400; round++) {
    const m = imapMachine({
      imap_auth: ["plain", "cram-md5", "external"],
      imap_client_buffer: 16 + Math.floor(random() * 200),
      max_errors: Math.floor(random() * 8),
      starttls: (["off", "on", "only"] as const)[Math.floor(random() * 3)],
    });
    let closed = false;
    const check = (actions: Action[]) => {
      for (const a of actions) {
        assert.equal(closed, false, "no action after close");
        if (a.type === "send") assert.ok(a.data.endsWith("\r\n"), JSON.stringify(a.data));
        if (a.type === "close") closed = true;
        if (a.type === "auth") check(m.authFailed("Nope"));
        if (a.type === "starttls") m.tlsStarted();
      }
    };
    for (let chunk = 0; chunk < 30 && !closed; chunk++) {
      let bytes = "";
      const parts = 1 + Math.floor(random() * 6);
      for (let p = 0; p < parts; p++) {
        bytes += random() < 0.7
          ? PIECES[Math.floor(random() * PIECES.length)]
          : String.fromCharCode(Math.floor(random() * 256));
      }
      check(m.feed(bytes));
      check(m.feed(""));
    }
  }
});

const TAGS = ["a1", "x", "A.b-c_9", "*", "", "t".repeat(33)];
const WORDS = ["CAPABILITY", "noop", "LOGOUT", "STARTTLS", "LOGIN", "AUTHENTICATE", "SELECT", "LOG1N"];
const ARGS = ["john", '"pa ss\\"w"', '"open', "{4}\r\njohn", "{3+}\r\na\r\n", "{0}\r\n", "PLAIN", "CRAM-MD5", "EXTERNAL",
  "AGpvaG4Ac2VjcmV0", "am9obg=="];
const ENDS = ["\r\n", "\n", "\r", " \r\n", "\r\r\n"];

/** Mostly plausible command lines and SASL answers, sometimes mangled. */
function plausibleInput(random: () => number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)];
  let input = "";
  const lines = 1 + Math.floor(random() * 4);
  for (let l = 0; l < lines; l++) {
    if (random() < 0.2) {
      input += pick(ARGS) + pick(ENDS);
      continue;
    }
    input += `${pick(TAGS)} ${pick(WORDS)}`;
    const args = Math.floor(random() * 5);
    for (let a = 0; a < args; a++) input += " " + pick(ARGS);
    if (random() < 0.15) input += pick(PIECES);
    input += pick(ENDS);
  }
  return input;
}

test("random input gives the same actions and pending bytes however it is split", () => {
  const random = rng(7);
  for (let round = 0; round < 300; round++) {
    const input = plausibleInput(random);
    const overrides = {
      imap_auth: ["plain" as const, "cram-md5" as const, "external" as const],
      imap_client_buffer: 20 + Math.floor(random() * 200),
      max_errors: 1 + Math.floor(random() * 6),
      starttls: (["off", "on", "only"] as const)[Math.floor(random() * 3)],
    };
    feedEveryWay(() => imapMachine(overrides), input);
  }
});
