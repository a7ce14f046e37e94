/**
 * nginx configuration tokenizer (directives.md §1). Pure: text in, tokens out.
 *
 * Mirrors ngx_conf_read_token: whitespace separates words; `;` and `{` end a word, `}`
 * only counts at the start of a word; `#` starts a comment only where a word could start;
 * `"..."`/`'...'` quote only at the start of a word, and a closing quote must be followed
 * by whitespace, `;`, `{` or `)` (which then starts the next word, as in
 * `if ($agent ~* "bot") {`), else `unexpected "X"`; a backslash protects the next
 * character, and `\" \' \\ \t \r \n` are then
 * unescaped (any other `\x` stays as the two characters). `${` inside a word stays in the
 * word, as in nginx.
 */

import { ValueError } from "../errors.ts";

export type Token =
  | { kind: "word"; value: string; line: number; quoted: boolean }
  | { kind: ";" | "{" | "}"; line: number }
  | { kind: "eof"; line: number };

/** A tokenizer error plus the line where it happened. */
export class TokenError extends ValueError {
  readonly line: number;
  constructor(reason: string, line: number) {
    super("syntax", reason);
    this.line = line;
  }
}

const ESCAPES: Record<string, string> = { '"': '"', "'": "'", "\\": "\\", t: "\t", r: "\r", n: "\n" };

/** Turns the raw characters of a word into its value (`\t` → TAB, `\x` kept). */
function unescapeWord(raw: string): string {
  if (!raw.includes("\\")) return raw;
  let out = "";
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i]!;
    if (ch === "\\" && i + 1 < raw.length) {
      const mapped = ESCAPES[raw[i + 1]!];
      if (mapped !== undefined) {
        out += mapped;
        i++;
        continue;
      }
      out += ch + raw[i + 1];
      i++;
      continue;
    }
    out += ch;
  }
  return out;
}

function isSpace(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\r" || ch === "\n";
}

/** Splits a whole configuration text into tokens, ending with one `eof` token. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;

  while (i < n) {
    const ch = text[i]!;
    if (ch === "\n") {
      line++;
      i++;
      continue;
    }
    if (isSpace(ch)) {
      i++;
      continue;
    }
    if (ch === "#") {
      while (i < n && text[i] !== "\n") i++;
      continue;
    }
    if (ch === ";" || ch === "{" || ch === "}") {
      tokens.push({ kind: ch, line });
      i++;
      continue;
    }
    if (ch === '"' || ch === "'") {
      const quote = ch;
      let raw = "";
      i++;
      for (;;) {
        if (i >= n) throw new TokenError('unexpected end of file, expecting ";" or "}"', line);
        const c = text[i]!;
        if (c === "\\" && i + 1 < n) {
          raw += c + text[i + 1];
          if (text[i + 1] === "\n") line++;
          i += 2;
          continue;
        }
        if (c === quote) break;
        if (c === "\n") line++;
        raw += c;
        i++;
      }
      i++;
      tokens.push({ kind: "word", value: unescapeWord(raw), line, quoted: true });
      const next = text[i];
      if (next !== undefined && !isSpace(next) && next !== ";" && next !== "{" && next !== ")") {
        throw new TokenError(`unexpected "${next}"`, line);
      }
      continue;
    }
    // An unquoted word.
    let raw = "";
    let afterDollar = false;
    while (i < n) {
      const c = text[i]!;
      if (c === "\\" && i + 1 < n) {
        raw += c + text[i + 1];
        if (text[i + 1] === "\n") line++;
        i += 2;
        afterDollar = false;
        continue;
      }
      if (c === "{" && afterDollar) {
        raw += c;
        i++;
        afterDollar = false;
        continue;
      }
      if (isSpace(c) || c === ";" || c === "{") break;
      afterDollar = c === "$";
      raw += c;
      i++;
    }
    tokens.push({ kind: "word", value: unescapeWord(raw), line, quoted: false });
  }
  tokens.push({ kind: "eof", line });
  return tokens;
}
