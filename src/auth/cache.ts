/**
 * `auth_http_cache valid=TIME max=N` (beyond nginx; docs/auth.md "Auth answer
 * cache"): positive auth_http answers reused in memory for `valid`, so a client
 * that reconnects every minute does not cost an auth request each time.
 *
 * Never a password in clear:
 *   - the key is an HMAC-SHA256, under a random per-instance salt, of the
 *     method, protocol, client address, TLS use, user and password/token;
 *   - an Auth-Pass from the service is kept AES-256-GCM encrypted under a
 *     random per-instance key, and decrypted only on a hit.
 * The salt and key live only in this object's memory: a reload (new instance)
 * starts with an empty cache.
 *
 * Only methods whose credentials are the same at every login are cached
 * (plain/login, xoauth2, oauthbearer); APOP and CRAM-MD5 carry a per-session
 * salt, EXTERNAL rests on the certificate, SMTP `none` on the envelope.
 * Passthrough answers (`backendDecides`) are never cached: nobody checked.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from "node:crypto";
import type { AuthRequest, AuthResult, AuthSource } from "./types.ts";
import { yieldOf } from "../protocols/mechanisms.ts";

interface AuthCacheOptions {
  /** How long an answer is reused, ms. */
  validMs: number;
  /** Most entries kept; the least recently used is dropped first. */
  max: number;
  /** Each lookup, for metrics (`mailproxy_auth_cache_hits_total` / `misses_total`). */
  onLookup?: (hit: boolean) => void;
  /** The clock, replaceable in tests. */
  now?: () => number;
}

/** What one cached answer holds. Inspectable by tests: no field is a password. */
interface CachedAnswer {
  expires: number;
  server: string;
  port: number;
  /** Auth-User override (a login name, not a secret). */
  user?: string;
  /** Auth-Pass override, encrypted: 12-byte IV, 16-byte GCM tag, ciphertext. */
  sealedPass?: { iv: Buffer; tag: Buffer; data: Buffer };
  /** Any other fields of the answer (flags such as a per-login proxy_smtp_auth), kept as they were. */
  extra: Record<string, unknown>;
}

type OkResult = Extract<AuthResult, { type: "ok" }>;

export class CachingAuth implements AuthSource {
  /** Insertion order is recency order: the first key is the least recently used. */
  readonly entries = new Map<string, CachedAnswer>();
  private readonly salt = randomBytes(32);
  private readonly key = randomBytes(32);
  private readonly now: () => number;

  constructor(private readonly next: AuthSource, private readonly opts: AuthCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const key = this.keyOf(request);
    if (key === null) return this.next.authenticate(request);
    const cached = this.lookup(key);
    this.opts.onLookup?.(cached !== null);
    if (cached) return cached;
    const result = await this.next.authenticate(request);
    if (result.type === "ok" && !result.backendDecides) this.store(key, result);
    return result;
  }

  close(): void {
    this.entries.clear();
    this.next.close();
  }

  /** null: this request is never cached. */
  private keyOf(request: AuthRequest): string | null {
    const { credentials } = request;
    if (yieldOf(credentials.method) !== "password") return null;
    const hmac = createHmac("sha256", this.salt);
    const parts = [
      credentials.method,
      request.protocol,
      request.clientIp,
      request.tls ? `tls:${request.tls.serverName ?? ""}` : "plain",
      credentials.user,
      credentials.pass,
    ];
    // Length-prefixed, so that no two different tuples hash the same bytes.
    for (const part of parts) hmac.update(`${part.length}:`).update(Buffer.from(part, "latin1"));
    return hmac.digest("base64");
  }

  private lookup(key: string): OkResult | null {
    const entry = this.entries.get(key);
    if (!entry) return null;
    this.entries.delete(key);
    if (entry.expires <= this.now()) return null;
    this.entries.set(key, entry);
    const result: OkResult = { ...entry.extra, type: "ok", server: entry.server, port: entry.port };
    if (entry.user !== undefined) result.user = entry.user;
    if (entry.sealedPass) result.pass = this.open(entry.sealedPass);
    return result;
  }

  private store(key: string, result: OkResult): void {
    const { type: _type, server, port, user, pass, backendDecides: _decides, ...extra } = result;
    const entry: CachedAnswer = { expires: this.now() + this.opts.validMs, server, port, extra };
    if (user !== undefined) entry.user = user;
    if (pass !== undefined) entry.sealedPass = this.seal(pass);
    this.entries.delete(key);
    while (this.entries.size >= this.opts.max) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, entry);
  }

  private seal(pass: string): CachedAnswer["sealedPass"] {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    const data = Buffer.concat([cipher.update(Buffer.from(pass, "latin1")), cipher.final()]);
    return { iv, tag: cipher.getAuthTag(), data };
  }

  private open(sealed: NonNullable<CachedAnswer["sealedPass"]>): string {
    const decipher = createDecipheriv("aes-256-gcm", this.key, sealed.iv);
    decipher.setAuthTag(sealed.tag);
    return Buffer.concat([decipher.update(sealed.data), decipher.final()]).toString("latin1");
  }
}
