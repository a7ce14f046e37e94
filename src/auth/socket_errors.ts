/**
 * Socket errors in nginx's wording, `(111: Connection refused)`, so log lines
 * read like nginx's whatever runtime produced the error.
 */

/** Linux errno numbers and strerror() texts for the errors a client socket meets. */
const ERRNO: Record<string, [number, string]> = {
  ENOENT: [2, "No such file or directory"],
  EACCES: [13, "Permission denied"],
  EPIPE: [32, "Broken pipe"],
  ENOTSOCK: [88, "Socket operation on non-socket"],
  EADDRINUSE: [98, "Address already in use"],
  EADDRNOTAVAIL: [99, "Cannot assign requested address"],
  ENETDOWN: [100, "Network is down"],
  ENETUNREACH: [101, "Network is unreachable"],
  ECONNABORTED: [103, "Software caused connection abort"],
  ECONNRESET: [104, "Connection reset by peer"],
  ENOTCONN: [107, "Transport endpoint is not connected"],
  ETIMEDOUT: [110, "Connection timed out"],
  ECONNREFUSED: [111, "Connection refused"],
  EHOSTDOWN: [112, "Host is down"],
  EHOSTUNREACH: [113, "No route to host"],
};

/** `(111: Connection refused)` for an error with a known `code`, else the code or message in parentheses. */
export function describeSocketError(err: unknown): string {
  const code = typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : "";
  const known = ERRNO[code];
  if (known) return `(${known[0]}: ${known[1]})`;
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
