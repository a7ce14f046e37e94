import { test } from "node:test";
import assert from "node:assert/strict";
import type { Action } from "../../../src/protocols/types.ts";
import { imapMachine } from "./helpers.ts";

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
