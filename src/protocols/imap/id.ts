/**
 * IMAP ID (RFC 2971), beyond nginx: the client's `ID` before login (`imap_id on`)
 * and the `ID` the proxy sends before the backend LOGIN (`proxy_imap_id on`),
 * carrying the client's address the way Dovecot trusts it from
 * `login_trusted_networks`. Pure: no I/O.
 */
import { imapQuoted, imapTagged } from "../../wire/imap.ts";
import type { Wire } from "../../wire/wire.ts";

/** Field name → value (null for NIL), in the client's order. Binary strings. */
export type IdFields = Array<[string, string | null]>;

/** RFC 2971 §3.3 limits. */
const MAX_PAIRS = 30;
const MAX_NAME = 30;
const MAX_VALUE = 1024;

/**
 * Parse the argument of `ID`: `NIL` or a parenthesized list of quoted field names
 * and quoted-or-NIL values. Literals are not accepted here. null = malformed.
 * @example parseIdArgument('("name" "Thunderbird" "version" NIL)') // [["name", "Thunderbird"], ["version", null]]
 */
export function parseIdArgument(text: string): IdFields | null {
  let pos = 0;
  const skipSpaces = () => {
    while (text[pos] === " ") pos++;
  };
  const nil = () => {
    if (text.slice(pos, pos + 3).toUpperCase() !== "NIL") return false;
    const after = text[pos + 3];
    if (after !== undefined && after !== " " && after !== ")") return false;
    pos += 3;
    return true;
  };
  const quoted = (): string | null => {
    if (text[pos] !== '"') return null;
    pos++;
    let out = "";
    while (pos < text.length) {
      const c = text[pos++]!;
      if (c === '"') return out;
      // TEXT-CHAR: no CR, LF or NUL inside a quoted string (RFC 3501 §9).
      if (c === "\r" || c === "\n" || c === "\0") return null;
      if (c === "\\") {
        const next = text[pos++];
        if (next !== '"' && next !== "\\") return null;
        out += next;
      } else out += c;
    }
    return null;
  };

  skipSpaces();
  if (nil()) {
    skipSpaces();
    return pos === text.length ? [] : null;
  }
  if (text[pos] !== "(") return null;
  pos++;
  const fields: IdFields = [];
  skipSpaces();
  while (text[pos] !== ")") {
    const name = quoted();
    if (name === null || name.length > MAX_NAME) return null;
    if (text[pos] !== " ") return null;
    skipSpaces();
    let value: string | null;
    if (nil()) value = null;
    else {
      value = quoted();
      if (value === null || value.length > MAX_VALUE) return null;
    }
    fields.push([name, value]);
    if (fields.length > MAX_PAIRS) return null;
    if (text[pos] === ")") break;
    if (text[pos] !== " ") return null;
    skipSpaces();
  }
  pos++;
  skipSpaces();
  return pos === text.length ? fields : null;
}

/** The untagged answer to a client's ID: the proxy tells nothing about itself. */
export const ID_RESPONSE = "* ID NIL\r\n";

/**
 * Client fields passed on to the backend: printable names without spaces, none of
 * them `x-*`, which a backend that trusts the proxy would read as the proxy's word
 * (" x-originating-ip" with a leading space included).
 */
function isForwardable(name: string): boolean {
  return /^[\x21-\x7e]+$/.test(name) && !name.toLowerCase().startsWith("x-");
}

interface ConnectionAddresses {
  clientIp: string;
  clientPort?: number;
  localIp?: string;
  localPort?: number;
}

/**
 * The ID command sent to the backend before LOGIN: the client's own fields, except
 * any `x-*` field (those are the proxy's to set), then x-originating-ip/-port
 * (the client) and x-connected-ip/-port (the proxy's end of the client connection).
 * @example backendIdCommand("a1 ", [["name", "mutt"]], { clientIp: "192.0.2.7", clientPort: 50412, localIp: "10.0.0.1", localPort: 143 })
 *   // 'a1 ID ("name" "mutt" "x-originating-ip" "192.0.2.7" "x-originating-port" "50412" "x-connected-ip" "10.0.0.1" "x-connected-port" "143")\r\n'
 */
export function backendIdCommand(tag: string, clientFields: IdFields, addresses: ConnectionAddresses): Wire<"imap"> {
  const fields: IdFields = clientFields.filter(([name]) => isForwardable(name));
  fields.push(["x-originating-ip", addresses.clientIp]);
  if (addresses.clientPort !== undefined) fields.push(["x-originating-port", String(addresses.clientPort)]);
  if (addresses.localIp !== undefined) fields.push(["x-connected-ip", addresses.localIp]);
  if (addresses.localPort !== undefined) fields.push(["x-connected-port", String(addresses.localPort)]);
  const list = fields.map(([name, value]) => `${imapQuoted(name, "an ID field name")} ${value === null ? "NIL" : imapQuoted(value, "an ID value")}`)
    .join(" ");
  return imapTagged(tag, `ID (${list})`);
}
