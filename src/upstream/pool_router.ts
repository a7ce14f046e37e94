/**
 * The auth source in front of a server whose logins may name a pool: when the
 * answer's server is an `upstream` name (from `proxy_pass NAME`, `Auth-Server: NAME`
 * or a user table), the pool picks the backend and the session gets an ordinary
 * host:port. Any other answer passes unchanged.
 */
import type { AuthRequest, AuthResult, AuthSource } from "../auth/types.ts";
import type { PoolPlacement } from "./pools.ts";

export class PoolRouter implements AuthSource {
  constructor(private readonly inner: AuthSource, private readonly pools: PoolPlacement) {}

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const result = await this.inner.authenticate(request);
    if (result.type !== "ok" || !this.pools.has(result.server)) return result;
    // The login the session logs and reports (an Auth-User renames it) is the sticky key.
    const login = result.user ?? request.credentials.user ?? "";
    const target = await this.pools.place(result.server, { login, remote_addr: request.clientIp, protocol: request.protocol });
    if (!target) return { type: "internal", reason: `no live upstreams in upstream "${result.server}"` };
    return { ...result, server: target.host, port: target.port };
  }

  backendRefused(request: AuthRequest): void | Promise<void> {
    return this.inner.backendRefused?.(request);
  }

  close(): void {
    this.inner.close();
  }
}
