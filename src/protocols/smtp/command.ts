/**
 * SMTP command-line syntax before authentication (protocols.md §5.3), after
 * nginx's ngx_mail_smtp_parse_command.
 */

const SMTP_VERBS = [
  "HELO", "EHLO", "AUTH", "MAIL", "RCPT", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP", "STARTTLS",
] as const;
type SmtpVerb = (typeof SMTP_VERBS)[number];

interface SmtpCommand {
  verb: SmtpVerb;
  args: string[];
}

const MAX_ARGS = 11;

/**
 * Parse one line (without its line end). Returns null for a syntax error: an
 * unknown command word or a 12th argument. Arguments are separated by runs of spaces.
 * @example parseSmtpCommand("MAIL FROM:<a@b>  SIZE=10") // { verb: "MAIL", args: ["FROM:<a@b>", "SIZE=10"] }
 */
export function parseSmtpCommand(line: string): SmtpCommand | null {
  let end = line.indexOf(" ");
  if (end < 0) end = line.length;
  const word = line.slice(0, end);
  // ASCII letters only: toUpperCase would map some latin1 letters onto ASCII ones.
  if (!/^(?:[A-Za-z]{4}|[A-Za-z]{8})$/.test(word)) return null;
  const verb = word.toUpperCase();
  if (!isSmtpVerb(verb)) return null;

  const args = line.slice(end).split(" ").filter((a) => a.length > 0);
  if (args.length > MAX_ARGS) return null;
  return { verb, args };
}

function isSmtpVerb(word: string): word is SmtpVerb {
  return (SMTP_VERBS as readonly string[]).includes(word);
}
