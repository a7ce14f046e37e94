/**
 * ManageSieve responses from a backend (RFC 5804 §4): any number of lines (capabilities,
 * SASL challenges), each possibly ending in a literal `{n}` whose bytes follow, up to one
 * status line `OK`, `NO` or `BYE` with an optional response code and an optional string.
 * The login machines get replies in arbitrary pieces; this says when one is complete.
 * Pure functions over binary strings.
 */

interface SieveStatus {
  status: "OK" | "NO" | "BYE";
  /** The human-readable string of the status line, unquoted ("" when absent). */
  text: string;
}

const STATUS = /^(OK|NO|BYE)(?=[ \r]|$)/i;
const LITERAL_AT_END = /\{(\d{1,9})\+?\}$/;

/**
 * The status line that ends `received`, or null while more must come. Lines before it
 * are skipped (literals included), so a capability value cannot pass for a status.
 * @example sieveStatus('"SASL" "PLAIN"\r\nOK "ready"\r\n') // { status: "OK", text: "ready" }
 * @example sieveStatus('"SASL" "PLAIN"\r\n') // null
 */
export function sieveStatus(received: string): SieveStatus | null {
  let pos = 0;
  for (;;) {
    const end = received.indexOf("\r\n", pos);
    if (end < 0) return null;
    const line = received.slice(pos, end);
    const literal = LITERAL_AT_END.exec(line);
    const status = STATUS.exec(line);
    if (status) {
      const word = status[1]!.toUpperCase() as SieveStatus["status"];
      if (!literal) return { status: word, text: quotedText(line.slice(status[0].length)) };
      const dataEnd = end + 2 + Number(literal[1]);
      if (!received.startsWith("\r\n", dataEnd)) return null;
      return { status: word, text: received.slice(end + 2, dataEnd) };
    }
    // A line ending in a literal goes on after the literal's data.
    pos = literal ? end + 2 + Number(literal[1]) : end + 2;
  }
}

/** The first quoted string after the status word (and its response code), unescaped. */
function quotedText(rest: string): string {
  const afterCode = rest.replace(/^ \((?:[^")]|"(?:[^"\\]|\\.)*")*\)/, "");
  const m = /^ "((?:[^"\\]|\\.)*)"/.exec(afterCode);
  return m ? m[1]!.replace(/\\(.)/g, "$1") : "";
}

/**
 * A SASL challenge line from the backend (a string that is no status), its content; else null.
 * @example sieveChallenge('"eyJzdGF0dXMiOiI0MDEifQ=="\r\n') // "eyJzdGF0dXMiOiI0MDEifQ=="
 */
export function sieveChallenge(received: string): string | null {
  const m = /^"((?:[^"\\]|\\.)*)"\r\n$/.exec(received);
  return m ? m[1]!.replace(/\\(.)/g, "$1") : null;
}
