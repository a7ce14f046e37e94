/**
 * IMAP ID before login (imap_id) and the ID line sent to the backend
 * (proxy_imap_id): the parser, the reader split at every byte, the state machine.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { backendIdCommand, parseIdArgument } from "../../../src/protocols/imap/id.ts";
import { ImapCommandReader, type ImapReaderEvent } from "../../../src/protocols/imap/command_reader.ts";
import { ImapPreauth } from "../../../src/protocols/imap/preauth.ts";
import { ImapBackendLogin } from "../../../src/protocols/imap/backend_login.ts";
import type { Action } from "../../../src/protocols/types.ts";
import { imapOptions } from "../../support/imap_machine.ts";

describe("parseIdArgument", () => {
  const good: Array<[string, Array<[string, string | null]>]> = [
    ["NIL", []],
    ["nil", []],
    ["()", []],
    ['("name" "Thunderbird" "version" "115.3")', [["name", "Thunderbird"], ["version", "115.3"]]],
    ['("name" NIL)', [["name", null]]],
    ['("a\\"b" "c\\\\d")', [['a"b', "c\\d"]]],
    ['(  "name"   "x"  )', [["name", "x"]]],
  ];
  for (const [text, fields] of good) {
    test(`accepts ${text}`, () => assert.deepEqual(parseIdArgument(text), fields));
  }
  const bad = [
    "",
    "(",
    '("name")',
    '("name" "x" "version")',
    '(name "x")',
    '("name" x)',
    '("name" "x")junk',
    '("name" "x)',
    'NIL NIL',
    '("a\\b" "x")',
    '("name" {3}',
    `(${'"k" "v" '.repeat(31).trim()})`,
    `("${"n".repeat(31)}" "v")`,
    `("name" "${"v".repeat(1025)}")`,
  ];
  for (const text of bad) {
    test(`refuses ${JSON.stringify(text.length > 40 ? text.slice(0, 40) + "…" : text)}`, () => assert.equal(parseIdArgument(text), null));
  }
});

describe("backendIdCommand", () => {
  test("carries the client's fields, drops its x-* fields, then the addresses", () => {
    assert.equal(
      backendIdCommand("a1 ", [["name", "mutt"], ["X-Originating-IP", "6.6.6.6"], ["version", null]], {
        clientIp: "192.0.2.7",
        clientPort: 50412,
        localIp: "10.0.0.1",
        localPort: 143,
      }),
      'a1 ID ("name" "mutt" "version" NIL "x-originating-ip" "192.0.2.7" "x-originating-port" "50412" "x-connected-ip" "10.0.0.1" "x-connected-port" "143")\r\n',
    );
  });
  test("quotes backslashes and double quotes", () => {
    assert.equal(
      backendIdCommand("t ", [["name", 'a"b\\c']], { clientIp: "192.0.2.7" }),
      't ID ("name" "a\\"b\\\\c" "x-originating-ip" "192.0.2.7")\r\n',
    );
  });
});

function events(reader: ImapCommandReader): ImapReaderEvent[] {
  const out: ImapReaderEvent[] = [];
  for (let e = reader.next(); e; e = reader.next()) out.push(e);
  return out;
}

describe("the command reader with ID", () => {
  const line = 'a1 ID ("name" "x y" "os" NIL)\r\nb2 NOOP\r\n';
  test("ID's rest of line is one raw argument, split at every byte offset", () => {
    for (let cut = 0; cut <= line.length; cut++) {
      const r = new ImapCommandReader(4096, { id: true });
      r.push(line.slice(0, cut));
      const got = events(r);
      r.push(line.slice(cut));
      got.push(...events(r));
      assert.deepEqual(got, [
        { type: "command", tag: "a1 ", name: "ID", args: ['("name" "x y" "os" NIL)'] },
        { type: "command", tag: "b2 ", name: "NOOP", args: [] },
      ], `cut at ${cut}`);
    }
  });
  test("without the option ID is a syntax error, as in nginx", () => {
    const r = new ImapCommandReader(4096);
    r.push(line);
    assert.deepEqual(events(r)[0], { type: "invalid", tag: "a1 ", endsInNonSyncLiteral: false });
  });
  test("an ID line ending in a literal is invalid; a non-synchronising one says so", () => {
    const r = new ImapCommandReader(4096, { id: true });
    r.push('a1 ID ("name" {3}\r\na2 ID ("name" {3+}\r\n');
    assert.deepEqual(events(r), [
      { type: "invalid", tag: "a1 ", endsInNonSyncLiteral: false },
      { type: "invalid", tag: "a2 ", endsInNonSyncLiteral: true },
    ]);
  });
  test("ID without an argument is invalid", () => {
    const r = new ImapCommandReader(4096, { id: true });
    r.push("a1 ID\r\n");
    assert.deepEqual(events(r), [{ type: "invalid", tag: "a1 ", endsInNonSyncLiteral: false }]);
  });
});

const OPTIONS = imapOptions();
const sent = (actions: Action[]) => actions.map((a) => (a.type === "send" ? a.data : `<${a.type}>`)).join("");

describe("ImapPreauth with imap_id", () => {
  test("ID is answered * ID NIL and the fields reach the login context", () => {
    const m = new ImapPreauth({ ...OPTIONS, imap_id: true });
    assert.equal(sent(m.feed('a1 ID ("name" "mutt")\r\n')), "* ID NIL\r\na1 OK completed\r\n");
    const actions = m.feed("a2 LOGIN john pw\r\n");
    assert.deepEqual(actions, [{
      type: "auth",
      credentials: { method: "plain", user: "john", pass: "pw" },
      context: { imapTag: "a2 ", imapId: [["name", "mutt"]] },
    }]);
  });
  test("CAPABILITY advertises ID once", () => {
    assert.equal(sent(new ImapPreauth({ ...OPTIONS, imap_id: true }).feed("c CAPABILITY\r\n")), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS ID AUTH=PLAIN\r\nc OK completed\r\n");
    const listed = new ImapPreauth({ ...OPTIONS, imap_id: true, imap_capabilities: ["IMAP4rev1", "ID"] });
    assert.equal(sent(listed.feed("c CAPABILITY\r\n")), "* CAPABILITY IMAP4rev1 ID AUTH=PLAIN\r\nc OK completed\r\n");
  });
  test("a malformed ID is BAD and counts toward max_errors", () => {
    const m = new ImapPreauth({ ...OPTIONS, imap_id: true, max_errors: 2 });
    assert.equal(sent(m.feed("a1 ID (name)\r\n")), "a1 BAD invalid command\r\n");
    assert.equal(sent(m.feed("a2 ID\r\n")), "a2 BAD invalid command\r\n<close>");
  });
  test("off (the default), ID is nginx's syntax error and nothing is kept", () => {
    const m = new ImapPreauth(OPTIONS);
    assert.equal(sent(m.feed('a1 ID ("name" "mutt")\r\n')), "a1 BAD invalid command\r\n");
    assert.equal(sent(new ImapPreauth(OPTIONS).feed("c CAPABILITY\r\n")), "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN\r\nc OK completed\r\n");
    assert.deepEqual(m.feed("a2 LOGIN john pw\r\n")[0], {
      type: "auth",
      credentials: { method: "plain", user: "john", pass: "pw" },
      context: { imapTag: "a2 " },
    });
  });
});

describe("ImapBackendLogin with an ID line", () => {
  const id = backendIdCommand("a1 ", [], { clientIp: "192.0.2.7" });
  test("ID goes first; the login follows the tagged answer, in one reply or two", () => {
    for (const replies of [["* ID NIL\r\na1 OK ID completed\r\n"], ["* ID NIL\r\n", "a1 OK ID completed\r\n"]]) {
      const login = new ImapBackendLogin("a1 ", "john", "pw", undefined, id);
      assert.deepEqual(login.onReply("* OK ready\r\n"), { type: "send", data: id });
      const steps = replies.map((r) => login.onReply(r));
      assert.deepEqual(steps[steps.length - 1], { type: "send", data: "a1 LOGIN {4}\r\n" });
      if (steps.length === 2) assert.deepEqual(steps[0], { type: "wait" });
    }
  });
  test("a backend that refuses ID still gets the login", () => {
    const login = new ImapBackendLogin("a1 ", "john", "pw", undefined, id);
    login.onReply("* OK ready\r\n");
    assert.deepEqual(login.onReply("a1 BAD unknown command\r\n"), { type: "send", data: "a1 LOGIN {4}\r\n" });
  });
});
