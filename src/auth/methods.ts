/**
 * Which authentication methods a server really offers. The `*_auth` directives
 * say what the operator wants; the auth source decides what can work. With the
 * passthrough backend alone (`proxy_pass`, no `auth_http`, no `auth_file`) the
 * backend checks the client's own credentials, so only methods that carry the
 * password (or the OAuth token) can be offered: a CRAM-MD5 digest, an APOP
 * digest or an EXTERNAL identity would leave nothing to log in with.
 *
 * The protocol machines build their capability lists and dispatch tables from
 * the list returned here, so what is advertised and what is accepted agree.
 */
import type { AuthMethodName, EffectiveServer } from "../config/model.ts";
import { yieldOf } from "../protocols/mechanisms.ts";

type AuthSettings = Pick<EffectiveServer, "auth_http" | "proxy_pass" | "auth_file">;

/** True when the backend named by `proxy_pass` is the only judge of the client's credentials. */
export function isPassthroughOnly(server: AuthSettings): boolean {
  return server.proxy_pass !== undefined && server.auth_http === undefined && server.auth_file === undefined;
}

/**
 * The methods a server offers for its `*_auth` list.
 * @example offeredMethods({ proxy_pass: "127.0.0.1:143" }, ["plain", "cram-md5"]) // ["plain"]
 */
export function offeredMethods(server: AuthSettings, configured: readonly AuthMethodName[]): AuthMethodName[] {
  if (!isPassthroughOnly(server)) return [...configured];
  return configured.filter((method) => yieldOf(method) === "password" || yieldOf(method) === "nothing");
}
