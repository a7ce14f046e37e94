/**
 * Chooses the auth source of a server (docs/auth.md, "Auth order"):
 *   1. `auth_file`: the users it lists are decided by the table;
 *   2. `auth_http`: decides everything else (or everything, without a table);
 *      `proxy_pass` is then the backend of an `Auth-Status: OK` naming none;
 *   3. `proxy_pass` alone: passthrough, the backend checks the client's credentials.
 * Built on every (re)load, so the user table is re-read on reload.
 */
import type { EffectiveServer } from "../config/model.ts";
import type { AuthSource } from "./types.ts";
import type { Logger } from "../log/logger.ts";
import { AuthHttpClient } from "./auth_http.ts";
import { PassthroughAuth } from "./passthrough.ts";
import { loadUserTable, type UserTable } from "./user_table.ts";
import { ConfigError } from "../config/errors.ts";
import { authHttpChain, type AuthHttpHooks } from "./auth_http_chain.ts";
import { UserTableAuth } from "./user_table_auth.ts";

/** `upstreams`: the pool names an `Auth-Server` may give instead of an address (docs/director.md). */
export function createAuthSource(
  server: EffectiveServer,
  logger: Logger,
  hooks: AuthHttpHooks = {},
  upstreams?: ReadonlySet<string>,
): AuthSource {
  const defaultBackend = server.proxy_pass ? PassthroughAuth.parseTarget(server.proxy_pass) : undefined;
  const http = server.auth_http
    ? new AuthHttpClient({
      url: server.auth_http,
      headers: server.auth_http_header,
      timeoutMs: server.auth_http_timeout,
      keepalive: server.auth_http_keepalive,
      passClientCert: server.auth_http_pass_client_cert,
      logger,
      defaultBackend,
      connectionHeaders: server.auth_http_extra_headers,
      upstreams,
    })
    : undefined;
  // Further auth_http URLs and auth_http_cache (beyond nginx).
  const asked = http && authHttpChain(server, http, hooks);
  if (server.auth_file) {
    return new UserTableAuth({ table: userTableOf(server, server.auth_file), protocol: server.protocol, defaultBackend, next: asked });
  }
  if (asked) return asked;
  if (server.proxy_pass) return new PassthroughAuth(server.proxy_pass);
  throw new Error(`no auth source for server in ${server.source.file}:${server.source.line}`);
}

/** The server's auth_file; one that cannot be read or parsed is a ConfigError at the server's place. */
function userTableOf(server: EffectiveServer, file: string): UserTable {
  try {
    return loadUserTable(file);
  } catch (err) {
    throw new ConfigError("invalid_value", `"auth_file" directive ${(err as Error).message}`, server.source);
  }
}
