/**
 * Socket errors in nginx's wording, `(111: Connection refused)`, so log lines
 * read like nginx's whatever runtime produced the error.
 */
import { errnoText } from "../errno.ts";

/** `(111: Connection refused)` for an error with a known `code`, else the code or message in parentheses. */
export function describeSocketError(err: unknown): string {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : "";
  const known = errnoText(code);
  if (known) return `(${known})`;
  if (code) return `(${code})`;
  return `(${err instanceof Error ? err.message : String(err)})`;
}

/** The failing system call as nginx names it: `connect()`, `send()` or `recv()`. */
export function failedCall(err: unknown, connected: boolean): "connect()" | "send()" | "recv()" {
  const syscall = typeof err === "object" && err !== null && "syscall" in err
    ? String((err as { syscall: unknown }).syscall)
    : "";
  if (!connected || syscall === "connect") return "connect()";
  if (syscall === "write" || syscall === "writev") return "send()";
  return "recv()";
}
