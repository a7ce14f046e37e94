/**
 * `proxy_pass HOST:PORT`: no auth service; every login goes to that backend with
 * the client's own credentials, and the backend's answer is the answer.
 */
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";

export class PassthroughAuth implements AuthSource {
  private readonly target: { host: string; port: number };

  constructor(hostPort: string) {
    this.target = PassthroughAuth.parseTarget(hostPort);
  }

  /** "host:port" or "[v6]:port"; a bare name is an upstream pool's (port 0, pool_router.ts routes it). */
  static parseTarget(hostPort: string): { host: string; port: number } {
    if (!hostPort.includes(":")) return { host: hostPort, port: 0 };
    const m = /^\[([^\]]+)\]:(\d+)$/.exec(hostPort) ?? /^([^:]+):(\d+)$/.exec(hostPort);
    if (!m) throw new Error(`invalid upstream "${hostPort}"`);
    return { host: m[1], port: Number(m[2]) };
  }

  authenticate(_request: AuthRequest): Promise<AuthResult> {
    return Promise.resolve({ type: "ok", server: this.target.host, port: this.target.port, backendDecides: true });
  }

  close(): void {}
}
