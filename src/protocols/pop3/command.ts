/**
 * POP3 command-line syntax before authentication (protocols.md §4.2), after
 * nginx's ngx_mail_pop3_parse_command.
 */

const POP3_VERBS = ["USER", "PASS", "APOP", "QUIT", "CAPA", "AUTH", "NOOP", "STLS"] as const;
type Pop3Verb = (typeof POP3_VERBS)[number];

export interface Pop3Command {
  verb: Pop3Verb;
  args: string[];
}

const MAX_ARGS = 3;

/**
 * Parse one line (without its line end). Returns null for a syntax error:
 * a command word that is not exactly one of the 4-letter verbs, or a 4th argument.
 * USER and PASS take everything after the spaces following the verb as their
 * single argument, inner and trailing spaces included.
 * @example parsePop3Command("USER john doe ") // { verb: "USER", args: ["john doe "] }
 */
export function parsePop3Command(line: string): Pop3Command | null {
  let end = line.indexOf(" ");
  if (end < 0) end = line.length;
  const word = line.slice(0, end);
  // ASCII letters only: toUpperCase would turn "PAß" into "PASS".
  if (!/^[A-Za-z]{4}$/.test(word)) return null;
  const verb = word.toUpperCase();
  if (!isPop3Verb(verb)) return null;

  const args: string[] = [];
  let i = end;
  while (i < line.length) {
    if (line[i] === " ") {
      i++;
      continue;
    }
    if (args.length >= MAX_ARGS) return null;
    if (verb === "USER" || verb === "PASS") {
      args.push(line.slice(i));
      break;
    }
    let argEnd = line.indexOf(" ", i);
    if (argEnd < 0) argEnd = line.length;
    args.push(line.slice(i, argEnd));
    i = argEnd;
  }
  return { verb, args };
}

function isPop3Verb(word: string): word is Pop3Verb {
  return (POP3_VERBS as readonly string[]).includes(word);
}
