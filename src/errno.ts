/**
 * Linux errno numbers and strerror() texts, so that messages read like nginx's
 * (`(111: Connection refused)`, `open() "/x" failed (2: No such file or directory)`)
 * whatever runtime produced the error code.
 */
const ERRNO: Record<string, string> = {
  ENOENT: "2: No such file or directory",
  ENXIO: "6: No such device or address",
  EACCES: "13: Permission denied",
  ENOTDIR: "20: Not a directory",
  EISDIR: "21: Is a directory",
  EPIPE: "32: Broken pipe",
  ENOTSOCK: "88: Socket operation on non-socket",
  EAFNOSUPPORT: "97: Address family not supported by protocol",
  EADDRINUSE: "98: Address already in use",
  EADDRNOTAVAIL: "99: Cannot assign requested address",
  ENETDOWN: "100: Network is down",
  ENETUNREACH: "101: Network is unreachable",
  ECONNABORTED: "103: Software caused connection abort",
  ECONNRESET: "104: Connection reset by peer",
  ENOTCONN: "107: Transport endpoint is not connected",
  ETIMEDOUT: "110: Connection timed out",
  ECONNREFUSED: "111: Connection refused",
  EHOSTDOWN: "112: Host is down",
  EHOSTUNREACH: "113: No route to host",
};

/**
 * `"111: Connection refused"` for a known error code, else undefined.
 * @example errnoText("ENOENT") // "2: No such file or directory"
 */
export function errnoText(code: string | undefined): string | undefined {
  return code === undefined ? undefined : ERRNO[code];
}
