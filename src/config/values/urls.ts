/** `auth_http URL` and the beyond-nginx `proxy_pass HOST:PORT` (no DNS here). */

import type { AuthHttpUrl } from "../model.ts";
import { ValueError } from "../errors.ts";
import { checkHost, parsePort, splitHostPort } from "./address.ts";

/**
 * Parses an auth_http URL as nginx does: `http://` is optional and stripped, the URI
 * starts at the first `/` (default `/`), the port defaults to 80, `unix:/path[:/uri]`.
 * nginx quotes the URL *without* the `http://` prefix in its messages; so do we.
 * @example parseAuthHttpUrl("http://127.0.0.1:9000/auth") → { kind: "tcp", host: "127.0.0.1", port: 9000, uri: "/auth", ... }
 */
export function parseAuthHttpUrl(url: string): AuthHttpUrl {
  if (/^https:\/\//i.test(url)) {
    throw new ValueError(
      "auth_http_url",
      `https is not supported in auth_http "${url}", the auth service must be reached over http:// or unix:`,
    );
  }
  const text = url.startsWith("http://") ? url.slice(7) : url;
  const fail = (reason: string) => new ValueError("auth_http_url", `${reason} in auth_http "${text}"`);

  if (text.startsWith("unix:")) {
    const rest = text.slice(5);
    const colon = rest.indexOf(":");
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const uri = colon < 0 ? "" : rest.slice(colon + 1);
    if (path === "") throw fail("no path in the unix domain socket");
    return { kind: "unix", url, path, uri: uri === "" ? "/" : uri };
  }

  const slash = text.indexOf("/");
  const authority = slash < 0 ? text : text.slice(0, slash);
  const uri = slash < 0 ? "/" : text.slice(slash);
  const split = splitHostPort(authority, false);
  if (typeof split === "string") throw fail(split);
  const bad = checkHost(split.host);
  if (bad) throw fail(bad);
  let port = 80;
  if (split.port !== "" || authority.endsWith(":")) {
    const parsed = parsePort(split.port);
    if (parsed === null) throw fail("invalid port");
    port = parsed;
  }
  return { kind: "tcp", url, host: split.host, port, uri };
}

/** Checks `proxy_pass HOST:PORT` (a port is required); returns the text unchanged. */
export function parseProxyPass(value: string): string {
  const fail = (reason: string) => new ValueError("proxy_pass", `${reason} in proxy_pass "${value}"`);
  const split = splitHostPort(value, false);
  if (typeof split === "string") throw fail(split);
  const bad = checkHost(split.host);
  if (bad) throw fail(bad);
  if (split.port === "") throw fail("no port");
  if (parsePort(split.port) === null) throw fail("invalid port");
  return value;
}
