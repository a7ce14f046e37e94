/**
 * The user table as an auth source (docs/auth.md, "Auth order"): users it lists
 * are decided here; anything it cannot decide goes to the next source
 * (auth_http when set), else to the passthrough backend for methods whose
 * secret only the backend can check (OAuth tokens, SMTP `none`), else is refused.
 */
import type { Protocol } from "../config/model.ts";
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";
import type { Backend, UserEntry, UserTable } from "./user_table.ts";
import { verifyApop, verifyCramMd5, verifyPassword } from "./password_hash.ts";

interface UserTableAuthOptions {
  table: UserTable;
  protocol: Protocol;
  /** The server's `proxy_pass`: the backend of entries that name none for this protocol. */
  defaultBackend?: Backend;
  /** auth_http, asked about users the table does not list. */
  next?: AuthSource;
  /** Seconds before a refusal is answered (the client may then retry), like Auth-Wait. */
  failureWait?: number;
}

/** The refusal text, the same for an unknown user and a wrong password. */
const USER_TABLE_REFUSAL = "Invalid login or password";

export class UserTableAuth implements AuthSource {
  constructor(private readonly opts: UserTableAuthOptions) {}

  get table(): UserTable {
    return this.opts.table;
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const { method, user } = request.credentials;
    if (method === "none" || method === "external" || method === "xoauth2" || method === "oauthbearer") {
      return await this.undecided(request, method !== "external");
    }
    const entry = this.opts.table.lookup(user);
    if (!entry) return this.opts.next ? await this.opts.next.authenticate(request) : this.refuse();
    const check = await this.check(entry, request);
    if (!check.ok) return this.refuse();
    const backend = entry.backends[this.opts.protocol] ?? this.opts.defaultBackend;
    if (!backend) {
      return {
        type: "internal",
        reason: `no ${this.opts.protocol} backend for "${entry.name}" in ${this.opts.table.file}:${entry.line} and no proxy_pass`,
      };
    }
    return { type: "ok", server: backend.host, port: backend.port, ...(check.pass === undefined ? {} : { pass: check.pass }) };
  }

  close(): void {
    this.opts.next?.close();
  }

  /** `pass`: the backend password when the client sent a digest instead of the password. */
  private async check(entry: UserEntry, request: AuthRequest): Promise<{ ok: boolean; pass?: string }> {
    const { method, pass, salt = "" } = request.credentials;
    const stored = entry.password;
    switch (method) {
      case "plain":
        return { ok: await verifyPassword(stored, pass) };
      case "cram-md5":
        return stored.scheme === "plain" && verifyCramMd5(stored.plain, salt, pass) ? { ok: true, pass: stored.plain } : { ok: false };
      case "apop":
        return stored.scheme === "plain" && verifyApop(stored.plain, salt, pass) ? { ok: true, pass: stored.plain } : { ok: false };
      default:
        return { ok: false };
    }
  }

  /** A method the table cannot check: auth_http, else (tokens, `none`) the backend itself. */
  private async undecided(request: AuthRequest, backendMayDecide: boolean): Promise<AuthResult> {
    if (this.opts.next) return await this.opts.next.authenticate(request);
    const entry = this.opts.table.lookup(request.credentials.user);
    const backend = entry?.backends[this.opts.protocol] ?? this.opts.defaultBackend;
    if (backendMayDecide && backend) return { type: "ok", server: backend.host, port: backend.port, backendDecides: true };
    return this.refuse();
  }

  private refuse(): AuthResult {
    return { type: "error", text: USER_TABLE_REFUSAL, wait: this.opts.failureWait ?? 1 };
  }
}
