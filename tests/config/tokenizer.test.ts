import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { tokenize } from "../../src/config/nginx/tokenizer.ts";
import { parseNginx } from "../../src/config/nginx/parser.ts";
import { errorOf, FILE, warningsOf } from "../support/config.ts";

const words = (text: string) => tokenize(text).flatMap((t) => (t.kind === "word" ? [t.value] : t.kind === "eof" ? [] : [t.kind]));

describe("nginx tokenizer", () => {
  test("words are split by spaces, tabs, CR and LF; ; and { end a word", () => {
    assert.deepEqual(words("a b\tc\r\nd;e{f}"), ["a", "b", "c", "d", ";", "e", "{", "f}"]);
  });

  test("a } only counts at the start of a word", () => {
    assert.deepEqual(words("x }"), ["x", "}"]);
    assert.deepEqual(words("x}"), ["x}"]);
  });

  test("# starts a comment only where a word could start", () => {
    assert.deepEqual(words("a # comment ; {\nb#c; \"#q\";"), ["a", "b#c", ";", "#q", ";"]);
  });

  test("every quoting and escape form", () => {
    const text = [
      `"double quoted; { } # x"`,
      `'single "quoted"'`,
      `"esc \\" \\' \\\\ \\t \\r \\n"`,
      `'other \\x \\$ kept'`,
      `unquoted\\ space`,
      `un\\"quoted`,
      `"multi`,
      `line"`,
      `""`,
      `a\${b}c`,
      `$literal`,
    ].join(" ");
    assert.deepEqual(words(text), [
      "double quoted; { } # x",
      'single "quoted"',
      "esc \" ' \\ \t \r \n",
      "other \\x \\$ kept",
      "unquoted\\ space",
      'un"quoted',
      "multi line",
      "",
      "a${b}c",
      "$literal",
    ]);
  });

  test("quote characters inside an unquoted word are literal", () => {
    assert.deepEqual(words(`ab"c'd`), [`ab"c'd`]);
  });

  test("lines are counted, including inside quotes", () => {
    const tokens = tokenize('a\n"b\nc"\n;');
    assert.deepEqual(tokens.map((t) => t.line), [1, 3, 4, 4]);
  });

  test("a directive's line is the line of its ; or {", () => {
    const statements = parseNginx("listen\n143\n;\nmail\n{\n}", FILE);
    assert.deepEqual(statements.map((s) => [s.name, s.at.line]), [["listen", 3], ["mail", 5]]);
  });
});

describe("nginx syntax errors", () => {
  const cases: Array<[string, string]> = [
    ["mail { }\n}", 'unexpected "}" in /cfg/m.conf:2'],
    ["mail {\n server {\n", 'unexpected end of file, expecting "}" in /cfg/m.conf:3'],
    ["worker_processes 1", 'unexpected end of file, expecting ";" or "}" in /cfg/m.conf:1'],
    ['worker_processes "1', 'unexpected end of file, expecting ";" or "}" in /cfg/m.conf:1'],
    ["mail { timeout 1s }", 'unexpected "}" in /cfg/m.conf:1'],
    ['mail { server_name "a"b; }', 'unexpected "b" in /cfg/m.conf:1'],
    ["\n;", 'unexpected ";" in /cfg/m.conf:2'],
    ["{ }", 'unexpected "{" in /cfg/m.conf:1'],
    ["mail { timeout 1s { } }", 'directive "timeout" is not terminated by ";" in /cfg/m.conf:1'],
    ["mail;", 'directive "mail" has no opening "{" in /cfg/m.conf:1'],
  ];
  for (const [text, message] of cases) {
    test(`${JSON.stringify(text)} → ${message}`, () => assert.equal(errorOf(text), message));
  }
});

/**
 * ngx_conf_read_token's verdicts for the characters next to quotes, escapes, `$` and `#`
 * (nginx 1.22 `nginx -t` on the same text).
 */
describe("the tokenizer agrees with ngx_conf_read_token", () => {
  test("a quoted word may be followed directly by ; or {", () => {
    assert.deepEqual(words(`"a";"b"{`), ["a", ";", "b", "{"]);
  });

  test('a quoted word followed directly by ) is accepted, the ) starting the next word: if ($ua ~* "bot") {', () => {
    assert.deepEqual(words(`if ($http_user_agent ~* "bot") {`), ["if", "($http_user_agent", "~*", "bot", ")", "{"]);
    assert.deepEqual(words(`if ($a = 'x')) {`), ["if", "($a", "=", "x", "))", "{"]);
  });

  test("an http block with a quoted condition next to ) loads, its contents skipped", () => {
    const text = `http {\n  server {\n    if ($http_user_agent ~* "bot") {\n      return 403;\n    }\n  }\n}\n` +
      "mail { auth_http 127.0.0.1:9000; server { listen 143; } }";
    assert.deepEqual(warningsOf(text), ['"http" directive is ignored by mailproxy in /cfg/m.conf:1']);
  });

  const refused: Array<[string, string]> = [
    ['mail { server_name "a"}', 'unexpected "}" in /cfg/m.conf:1'],
    ['mail { server_name "a"b; }', 'unexpected "b" in /cfg/m.conf:1'],
    ['mail { server_name "a""b"; }', 'unexpected """ in /cfg/m.conf:1'],
    ["mail { server_name 'a'# comment\n; }", 'unexpected "#" in /cfg/m.conf:1'],
    ['mail { server_name "a"\\; }', 'unexpected "\\" in /cfg/m.conf:1'],
    ['mail { server_name "a\n\n"x; }', 'unexpected "x" in /cfg/m.conf:3'],
    ['mail { server_name "a\\";\n}', 'unexpected end of file, expecting ";" or "}" in /cfg/m.conf:2'],
  ];
  for (const [text, message] of refused) {
    test(`${JSON.stringify(text)} → ${message}`, () => assert.equal(errorOf(text), message));
  }

  test("a quote inside a word is an ordinary character, even before ) or }", () => {
    assert.deepEqual(words(`a"b"c x"y"} z'w');`), [`a"b"c`, `x"y"}`, `z'w')`, ";"]);
  });

  test("escapes unescape in quoted and unquoted words alike; others, such as \\; and \\{, protect the character and stay two characters", () => {
    assert.deepEqual(words(`"\\"\\t" a\\tb 'x\\'y' c\\;d \\{e`), [`"\t`, "a\tb", "x'y", "c\\;d", "\\{e"]);
  });

  test("${ keeps { in the word; a { after an escaped $ ends it", () => {
    assert.deepEqual(words("a${b}c ${d} e\\${f"), ["a${b}c", "${d}", "e\\$", "{", "f"]);
  });

  test("# after a word character or inside quotes is part of the word; at a word start it is a comment", () => {
    assert.deepEqual(words(`a#b "#c" '#d';#e f\n g`), ["a#b", "#c", "#d", ";", "g"]);
  });
});
