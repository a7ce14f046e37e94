/**
 * HTTP/1.x request heads, the auth_http request's wire format. Header names must be
 * tokens; header values may hold any byte but the control bytes other than TAB
 * (CR, LF and NUL above all), so no value can end its line or start another header.
 * DEL and bytes from 0x80 up pass: nginx sends them raw in Auth-User and Auth-Pass.
 */
import { wireText, UnsafeValueError, type Wire } from "./wire.ts";

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const CONTROL_BUT_TAB = /[\x00-\x08\x0a-\x1f]/;

/** A header name an HTTP request can carry: a token. */
export function isHeaderName(name: string): boolean {
  return TOKEN.test(name);
}

/** A header value an HTTP request can carry: no control byte but TAB. */
export function isHeaderValue(value: string): boolean {
  return !CONTROL_BUT_TAB.test(value);
}

const TARGET = /^[\x21-\x7e\x80-\xff]+$/;

/**
 * @example
 *   new HttpRequestHead("GET", "/auth", "1.0").header("Auth-User", "alice").end()
 *   // "GET /auth HTTP/1.0\r\nAuth-User: alice\r\n\r\n"
 */
export class HttpRequestHead {
  private text: string;

  constructor(method: "GET", target: string, version: "1.0" | "1.1") {
    if (!TARGET.test(target)) throw new UnsafeValueError("the request target", "http");
    this.text = `${method} ${target} HTTP/${version}\r\n`;
  }

  /** One `Name: value` line; UnsafeValueError for a name that is no token or a value with a control byte. */
  header(name: string, value: string): this {
    // The names are mostly the same few constants: each is checked once per process.
    if (!TOKENS.has(name)) {
      if (!isHeaderName(name)) throw new UnsafeValueError("a header name", "http");
      if (TOKENS.size < 256) TOKENS.add(name);
    }
    if (!isHeaderValue(value)) throw new UnsafeValueError(`the ${name} header`, "http");
    this.text += `${name}: ${value}\r\n`;
    return this;
  }

  /** The head with its closing empty line. */
  end(): Wire<"http"> {
    return wireText(this.text + "\r\n", "http");
  }
}

/** Header names already found to be tokens (bounded: configured names are few). */
const TOKENS = new Set<string>();

const HEX = "0123456789ABCDEF";
const NEEDS_ESCAPE = /[\x00-\x20%]/;

/**
 * nginx's mail auth escaping (auth-http.md §2.3): control bytes, space and `%` become
 * `%XX` with uppercase hex; every other byte (also `+`, DEL and UTF-8) is sent raw.
 * @example escapeAuthValue("john doe") // "john%20doe"
 */
export function escapeAuthValue(binary: string): string {
  // Most user names and passwords need no escape: no copy, char by char, for them.
  if (!NEEDS_ESCAPE.test(binary)) return binary;
  let out = "";
  for (let i = 0; i < binary.length; i++) {
    const code = binary.charCodeAt(i);
    if (code <= 0x20 || code === 0x25) {
      out += "%" + HEX[(code >> 4) & 0xf] + HEX[code & 0xf];
    } else {
      out += binary[i];
    }
  }
  return out;
}
