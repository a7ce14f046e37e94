/**
 * `auth_http URL1 URL2 ...` (beyond nginx): the auth services are asked in
 * turn while one is down. "Down" means no answer at all: connection refused,
 * host not found, timed out or closed before the end of the response headers.
 * Any answer the service gave — OK, an error, WAIT, even an invalid header
 * block — is final, so a refusal is never retried elsewhere.
 */
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";

export class MultiUrlAuth implements AuthSource {
  /** `sources` in the order of the directive; at least one. */
  constructor(private readonly sources: readonly AuthSource[]) {
    if (sources.length === 0) throw new Error("MultiUrlAuth needs at least one auth source");
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    let result: AuthResult = { type: "internal", reason: "no auth service" };
    for (const source of this.sources) {
      result = await source.authenticate(request);
      if (result.type !== "internal" || !result.unreachable) return result;
    }
    return result;
  }

  close(): void {
    for (const source of this.sources) source.close();
  }
}
