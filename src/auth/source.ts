/**
 * Chooses the auth source of a server: its auth_http service, else the
 * passthrough backend of `proxy_pass`.
 */
import type { EffectiveServer } from "../config/model.ts";
import type { AuthSource } from "./types.ts";
import type { Logger } from "../log/logger.ts";
import { AuthHttpClient } from "./auth_http.ts";
import { PassthroughAuth } from "./passthrough.ts";

export function createAuthSource(server: EffectiveServer, logger: Logger): AuthSource {
  if (server.auth_http) {
    return new AuthHttpClient({
      url: server.auth_http,
      headers: server.auth_http_header,
      timeoutMs: server.auth_http_timeout,
      keepalive: server.auth_http_keepalive,
      passClientCert: server.auth_http_pass_client_cert,
      logger,
    });
  }
  if (server.proxy_pass) return new PassthroughAuth(server.proxy_pass);
  throw new Error(`no auth source for server in ${server.source.file}:${server.source.line}`);
}
