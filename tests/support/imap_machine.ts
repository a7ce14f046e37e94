/** Tiny builders and renderers shared by the IMAP tests. */
import assert from "node:assert/strict";
import { ImapPreauth, type ImapPreauthOptions } from "../../src/protocols/imap/preauth.ts";
import type { Action } from "../../src/protocols/types.ts";

export const TEST_SALT = "<1896.697170952@postoffice.example.net>";

export function imapOptions(overrides: Partial<ImapPreauthOptions> = {}): ImapPreauthOptions {
  return {
    imap_auth: ["plain"],
    imap_capabilities: ["IMAP4", "IMAP4rev1", "UIDPLUS"],
    imap_client_buffer: 4096,
    max_errors: 5,
    starttls: "off",
    server_name: "mail.example.com",
    implicitTls: false,
    ...overrides,
  };
}

export function imapMachine(overrides: Partial<ImapPreauthOptions> = {}): ImapPreauth {
  return new ImapPreauth(imapOptions(overrides), () => TEST_SALT);
}

/**
 * Actions as one readable string: sends verbatim, everything else in brackets,
 * e.g. `a1 OK completed\r\n[close quit]`.
 */
export function render(actions: Action[]): string {
  return actions.map((a) => {
    switch (a.type) {
      case "send":
        return a.data;
      case "close":
        return `[close ${a.reason}]`;
      case "starttls":
        return "[starttls]";
      case "delay-greeting":
        return `[delay ${a.ms}]`;
      case "auth": {
        const c = a.credentials;
        const salt = c.salt === undefined ? "" : ` salt=${c.salt}`;
        return `[auth ${c.method} user=${JSON.stringify(c.user)} pass=${JSON.stringify(c.pass)}${salt} tag=${
          JSON.stringify(a.context.imapTag)
        }]`;
      }
    }
  }).join("");
}

/** Feed `chunks` one after another and return every action, plus what stayed pending. */
export function feedChunks(m: ImapPreauth, chunks: string[]): { actions: Action[]; pending: string } {
  const actions: Action[] = [];
  for (const chunk of chunks) actions.push(...m.feed(chunk));
  return { actions, pending: m.takePending() };
}

/**
 * Feed `input` whole, then split at every byte offset, then byte by byte, to
 * fresh machines; assert every way gives the same actions and pending bytes.
 * Returns the rendered actions of the whole feed.
 */
export function feedEveryWay(make: () => ImapPreauth, input: string): string {
  const whole = feedChunks(make(), [input]);
  for (let k = 1; k < input.length; k++) {
    const split = feedChunks(make(), [input.slice(0, k), input.slice(k)]);
    assert.deepEqual(split, whole, `split at offset ${k} of ${JSON.stringify(input)}`);
  }
  const bytewise = feedChunks(make(), input.split(""));
  assert.deepEqual(bytewise, whole, `byte by byte: ${JSON.stringify(input)}`);
  return render(whole.actions);
}

/** Shorthand: a machine with `overrides`, fed `input` every way; the rendered result. */
export function client(input: string, overrides: Partial<ImapPreauthOptions> = {}): string {
  return feedEveryWay(() => imapMachine(overrides), input);
}
