/**
 * An HTTP request sent to a mail port: a browser led there by a cross-protocol
 * attack (an HTML form POSTing mail commands to port 143 or 25), or a misdirected
 * health check. nginx closes such a connection; its header and body lines must never
 * reach the dialogue, where they would run as commands. Only a session's first line
 * is looked at: no mail command has the shape of an HTTP request line.
 */

/** `METHOD target HTTP/x.y` (RFC 9112 §3), the line end excluded. */
const REQUEST_LINE = /^[A-Z]+ [^ \r\n]+ HTTP\/\d\.\d\r?$/;
/** What can still grow into a request line: uppercase method, then up to two more words. */
const REQUEST_LINE_PREFIX = /^[A-Z]*(?: [^ \r\n]*(?: [^ \r\n]*)?)?\r?$/;
/** A first line longer than this is taken as mail (nginx's buffers are smaller). */
const FIRST_LINE_LIMIT = 8192;

type FirstLineVerdict = "http" | "mail" | "undecided";

/** What the client's first bytes are: an HTTP request, mail, or not known until more arrive. */
export function firstLineVerdict(head: string): FirstLineVerdict {
  const lf = head.indexOf("\n");
  if (lf >= 0) return REQUEST_LINE.test(head.slice(0, lf)) ? "http" : "mail";
  return head.length < FIRST_LINE_LIMIT && REQUEST_LINE_PREFIX.test(head) ? "undecided" : "mail";
}
