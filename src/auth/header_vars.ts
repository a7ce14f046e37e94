/**
 * Variables in `auth_http_header` values (beyond nginx, docs/auth.md): `$remote_addr`,
 * `$remote_port`, `$server_addr`, `$server_port`, `$protocol`, `$ssl_server_name`,
 * also written `${name}`. Expanded per request; any other `$` stays as written, so a
 * value without these names goes out exactly as configured. Pure: no I/O.
 */
import type { AuthRequest } from "./types.ts";
import { escapeAuthValue } from "../wire/http.ts";

const HEADER_VARIABLES = ["remote_addr", "remote_port", "server_addr", "server_port", "protocol", "ssl_server_name"] as const;
type HeaderVariable = (typeof HEADER_VARIABLES)[number];

const PATTERN = /\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g;

function variableValue(name: HeaderVariable, req: AuthRequest): string {
  switch (name) {
    case "remote_addr":
      return req.clientIp;
    case "remote_port":
      return req.clientPort === undefined ? "" : String(req.clientPort);
    case "server_addr":
      return req.serverAddr ?? "";
    case "server_port":
      return req.serverPort === undefined ? "" : String(req.serverPort);
    case "protocol":
      return req.protocol;
    case "ssl_server_name":
      return req.tls?.serverName ?? "";
  }
}

/**
 * @example expandHeaderValue("$remote_addr:$remote_port", req) // "192.0.2.7:50412"
 * @example expandHeaderValue("cost $5", req) // "cost $5"
 */
export function expandHeaderValue(value: string, req: AuthRequest): string {
  if (!value.includes("$")) return value;
  return value.replace(PATTERN, (whole, braced: string | undefined, bare: string | undefined) => {
    const name = (braced ?? bare)!;
    if (!(HEADER_VARIABLES as readonly string[]).includes(name)) return whole;
    // The SNI name comes from the client: never let it add a header line.
    return escapeAuthValue(variableValue(name as HeaderVariable, req));
  });
}
