/**
 * The auth_http request text (auth-http.md §2). Pure: no I/O, no clock.
 * Everything is a binary string (one char = one byte), so user names and
 * passwords go out byte-exact.
 */
import type { AuthHttpUrl } from "../config/model.ts";
import type { AuthRequest } from "./types.ts";
import { expandHeaderValue } from "./header_vars.ts";
import { escapeAuthValue, HttpRequestHead } from "../wire/http.ts";
import type { Wire } from "../wire/wire.ts";
import { yieldOf } from "../protocols/mechanisms.ts";

export { escapeAuthValue };

/** The `Host:` value: the host as written in `auth_http`, `localhost` for UNIX sockets. */
function authHostHeader(url: AuthHttpUrl): string {
  return url.kind === "unix" ? "localhost" : url.host;
}

/** Beyond-nginx parts of the request, all off by default. */
interface AuthRequestOptions {
  /** auth_http_extra_headers: Client-Port, Server-IP, Server-Port after Client-IP/Client-Host. */
  connectionHeaders?: boolean;
}

/**
 * Build the complete request, header block and final empty line included. Every
 * line goes through HttpRequestHead, which refuses a value that could end its line.
 * `httpVersion` is "1.0" (nginx) or "1.1" (beyond nginx, pooled connections);
 * nothing else changes between the two. `auth_http_header` values have their
 * variables expanded (header_vars.ts).
 * @example buildAuthRequest(url, req, [["X-Auth-Key", "k1"]], "1.0")
 */
export function buildAuthRequest(
  url: AuthHttpUrl,
  req: AuthRequest,
  extraHeaders: Array<[string, string]>,
  httpVersion: "1.0" | "1.1",
  options: AuthRequestOptions = {},
): Wire<"http"> {
  const head = new HttpRequestHead("GET", url.uri || "/", httpVersion);
  const header = (name: string, value: string) => head.header(name, value);
  const { credentials } = req;
  const method = credentials.method;

  header("Host", authHostHeader(url));
  header("Auth-Method", method);
  header("Auth-User", method === "none" ? "" : escapeAuthValue(credentials.user));
  // EXTERNAL never carries a password (nginx may leak an earlier one; we do not).
  header("Auth-Pass", method === "none" || method === "external" ? "" : escapeAuthValue(credentials.pass));
  if (yieldOf(method) === "digest") header("Auth-Salt", credentials.salt ?? "");
  header("Auth-Protocol", req.protocol);
  header("Auth-Login-Attempt", String(req.attempt));
  header("Client-IP", req.clientIp);
  if (req.protocol === "smtp") header("Client-Host", req.clientHost ?? "[UNAVAILABLE]");
  if (options.connectionHeaders) {
    // Each only when known (a UNIX-socket client has no port, a UNIX listener no address).
    if (req.clientPort !== undefined) header("Client-Port", String(req.clientPort));
    if (req.serverAddr !== undefined) header("Server-IP", req.serverAddr);
    if (req.serverPort !== undefined) header("Server-Port", String(req.serverPort));
  }

  const pp = req.proxyProtocol;
  if (pp) {
    header("Proxy-Protocol-Addr", pp.addr);
    header("Proxy-Protocol-Port", String(pp.port));
    header("Proxy-Protocol-Server-Addr", pp.serverAddr);
    header("Proxy-Protocol-Server-Port", String(pp.serverPort));
  }

  if (method === "none") {
    const smtp = credentials.smtp;
    header("Auth-SMTP-Helo", smtp?.helo ?? "");
    header("Auth-SMTP-From", smtp?.from ?? "");
    header("Auth-SMTP-To", smtp?.to ?? "");
  }

  const tls = req.tls;
  if (tls) {
    header("Auth-SSL", "on");
    header("Auth-SSL-Protocol", tls.protocol);
    header("Auth-SSL-Cipher", tls.cipher);
    // Beyond nginx: the SNI name lets one auth service tell virtual hosts apart.
    if (tls.serverName) header("Auth-SSL-Server-Name", tls.serverName);
    // nginx writes each certificate fact only when it has a value.
    if (tls.verify) header("Auth-SSL-Verify", tls.verify);
    if (tls.subject) header("Auth-SSL-Subject", tls.subject);
    if (tls.issuer) header("Auth-SSL-Issuer", tls.issuer);
    if (tls.serial) header("Auth-SSL-Serial", tls.serial);
    if (tls.fingerprint) header("Auth-SSL-Fingerprint", tls.fingerprint);
    if (tls.certPem) header("Auth-SSL-Cert", escapeAuthValue(tls.certPem));
  }

  for (const [name, value] of extraHeaders) header(name, expandHeaderValue(value, req));
  return head.end();
}
