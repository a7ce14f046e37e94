/**
 * SMTP reply framing: multi-line replies repeat the code on every line with a
 * `-` as 4th character on all lines but the last (RFC 5321 §4.2.1).
 */

/**
 * Build a reply from its code and line texts.
 * @example smtpReply("250", ["mx.example.com", "AUTH PLAIN LOGIN"]) // "250-mx.example.com\r\n250 AUTH PLAIN LOGIN\r\n"
 */
export function smtpReply(code: string, lines: readonly string[]): string {
  return lines.map((line, i) => `${code}${i === lines.length - 1 ? " " : "-"}${line}\r\n`).join("");
}

/**
 * Whether accumulated backend bytes hold a complete reply (protocols.md §6.2):
 * at least 4 bytes ending in CRLF and, for a multi-line reply, a last line whose
 * 4th character is not `-`.
 */
export function isCompleteSmtpReply(data: string): boolean {
  if (data.length < 4 || !data.endsWith("\r\n")) return false;
  if (data[3] !== "-") return true;
  const lastLine = data.lastIndexOf("\n", data.length - 3) + 1;
  return lastLine > 0 && data.length - lastLine >= 5 && data[lastLine + 3] !== "-";
}
