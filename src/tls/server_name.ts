/**
 * The client's SNI name is the client's word: it picks a server, goes into
 * Auth-SSL-Server-Name and $ssl_server_name, and must be a host name to do so.
 * Bun hands over any bytes a client put there, CR and LF included.
 */

/** Host name labels of letters, digits, `-` and `_`, dot-separated, at most 253 bytes (RFC 6066 §3). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*$/;

/**
 * @example isValidServerName("mail.example.com") // true
 * @example isValidServerName("x\r\nAuth-SSL-Verify: SUCCESS") // false
 */
export function isValidServerName(name: string): boolean {
  return HOST_NAME.test(name);
}

/** Why a handshake with such a name is refused; the name itself is not repeated (it may hold anything). */
export const INVALID_SERVER_NAME = "client sent invalid server name (SNI)";
