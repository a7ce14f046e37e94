/**
 * nginx configuration syntax → statements (directives.md §1). Pure: it never reads files;
 * `include` stays a statement and is expanded by the interpreter in its context.
 *
 * Line numbers follow nginx: a directive's line is the line of its `;` or `{`.
 */

import { ConfigError } from "../errors.ts";
import type { Statement } from "../statement.ts";
import { type Token, TokenError, tokenize } from "./tokenizer.ts";

/** Parses nginx configuration text; `file` is used in messages and statement places. */
export function parseNginx(text: string, file: string): Statement[] {
  let tokens: Token[];
  try {
    tokens = tokenize(text);
  } catch (e) {
    if (e instanceof TokenError) throw new ConfigError("syntax", e.message, { file, line: e.line });
    throw e;
  }
  let pos = 0;

  const readBlock = (depth: number): Statement[] => {
    const statements: Statement[] = [];
    let words: string[] = [];
    for (;;) {
      const token = tokens[pos++]!;
      const at = { file, line: token.line };
      switch (token.kind) {
        case "word":
          words.push(token.value);
          break;
        case ";":
          if (words.length === 0) throw new ConfigError("syntax", 'unexpected ";"', at);
          statements.push({ name: words[0]!, args: words.slice(1), at });
          words = [];
          break;
        case "{": {
          if (words.length === 0) throw new ConfigError("syntax", 'unexpected "{"', at);
          const [name, ...args] = words;
          words = [];
          statements.push({ name: name!, args, at, block: readBlock(depth + 1) });
          break;
        }
        case "}":
          if (words.length > 0 || depth === 0) throw new ConfigError("syntax", 'unexpected "}"', at);
          return statements;
        case "eof":
          if (words.length > 0) {
            throw new ConfigError("syntax", 'unexpected end of file, expecting ";" or "}"', at);
          }
          if (depth > 0) throw new ConfigError("syntax", 'unexpected end of file, expecting "}"', at);
          return statements;
      }
    }
  };

  return readBlock(0);
}
