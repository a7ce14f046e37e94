/**
 * Every authentication method in one table: which `*_auth` directives accept it, the SASL
 * mechanisms it turns on in each protocol (in nginx's advertising order), and what its
 * dialogue yields. Directive validation, the advertised capabilities, the dispatch checks
 * of the machines, the auth request's salt and what reaches a backend all derive from it,
 * so a new mechanism is one row here plus its exchange in sasl.ts.
 */
import type { AuthMethodName, EffectiveServer, Protocol } from "../config/model.ts";
import type { AuthMethod } from "./types.ts";
import type { SaslMechanism } from "./sasl.ts";

interface AuthMethodEntry {
  /** The value in `imap_auth`, `pop3_auth`, `smtp_auth`, `sieve_auth`. */
  method: AuthMethodName;
  /** The SASL mechanisms the method turns on, per protocol whose directive accepts it (`[]`: a non-SASL command). */
  sasl: Partial<Record<Protocol, readonly SaslMechanism[]>>;
  /**
   * What the client's dialogue yields: the password or token itself (a backend can check
   * it, a cache can key on it), a digest over the session salt (sent with Auth-Salt), an
   * identity (EXTERNAL), or nothing (SMTP `none`).
   */
  yields: "password" | "digest" | "identity" | "nothing";
}

/** xoauth2, oauthbearer and the sieve column go beyond nginx (docs/auth.md). */
const AUTH_METHODS: readonly AuthMethodEntry[] = [
  { method: "plain", sasl: { imap: ["PLAIN"], pop3: ["PLAIN", "LOGIN"], smtp: ["PLAIN"], sieve: ["PLAIN"] }, yields: "password" },
  { method: "login", sasl: { imap: ["LOGIN"], smtp: ["LOGIN"], sieve: ["LOGIN"] }, yields: "password" },
  { method: "apop", sasl: { pop3: [] }, yields: "digest" },
  { method: "cram-md5", sasl: { imap: ["CRAM-MD5"], pop3: ["CRAM-MD5"], smtp: ["CRAM-MD5"] }, yields: "digest" },
  { method: "external", sasl: { imap: ["EXTERNAL"], pop3: ["EXTERNAL"], smtp: ["EXTERNAL"], sieve: ["EXTERNAL"] }, yields: "identity" },
  { method: "none", sasl: { smtp: [] }, yields: "nothing" },
  { method: "xoauth2", sasl: { imap: ["XOAUTH2"], pop3: ["XOAUTH2"], smtp: ["XOAUTH2"], sieve: ["XOAUTH2"] }, yields: "password" },
  {
    method: "oauthbearer",
    sasl: { imap: ["OAUTHBEARER"], pop3: ["OAUTHBEARER"], smtp: ["OAUTHBEARER"], sieve: ["OAUTHBEARER"] },
    yields: "password",
  },
];

/** PLAIN and LOGIN are accepted whatever the `*_auth` list says, as nginx does (protocols.md §2). */
const ALWAYS_ACCEPTED: ReadonlySet<SaslMechanism> = new Set<SaslMechanism>(["PLAIN", "LOGIN"]);

function entry(method: AuthMethodName): AuthMethodEntry {
  return AUTH_METHODS.find((e) => e.method === method)!;
}

/**
 * The values `<protocol>_auth` accepts, in table order.
 * @example methodsOf("pop3") // ["plain", "apop", "cram-md5", "external", "xoauth2", "oauthbearer"]
 */
export function methodsOf(protocol: Protocol): AuthMethodName[] {
  return AUTH_METHODS.filter((e) => e.sasl[protocol] !== undefined).map((e) => e.method);
}

/**
 * The SASL mechanisms to advertise for a `*_auth` list, in nginx's fixed order.
 * @example advertisedMechanisms("pop3", ["cram-md5", "plain"]) // ["PLAIN", "LOGIN", "CRAM-MD5"]
 */
export function advertisedMechanisms(protocol: Protocol, methods: readonly AuthMethodName[]): SaslMechanism[] {
  return AUTH_METHODS.filter((e) => methods.includes(e.method)).flatMap((e) => e.sasl[protocol] ?? []);
}

/** Whether AUTHENTICATE/AUTH accepts `mechanism` with this `*_auth` list. */
export function mechanismAccepted(protocol: Protocol, mechanism: SaslMechanism, methods: readonly AuthMethodName[]): boolean {
  return ALWAYS_ACCEPTED.has(mechanism) || advertisedMechanisms(protocol, methods).includes(mechanism);
}

/** What the dialogue of `method` yields (credentials say `plain` for LOGIN too). */
export function yieldOf(method: AuthMethodName | AuthMethod): AuthMethodEntry["yields"] {
  return entry(method).yields;
}

/** Whether any of `methods` needs the session salt (the POP3 greeting shows it from the start). */
export function anySalted(methods: readonly AuthMethodName[]): boolean {
  return methods.some((m) => yieldOf(m) === "digest");
}

/*
 * Which methods a server really offers. The `*_auth` directives say what the operator
 * wants; the auth source decides what can work. With the passthrough backend alone
 * (`proxy_pass`, no `auth_http`, no `auth_file`) the backend checks the client's own
 * credentials, so only methods that carry the password (or the OAuth token) can be
 * offered: a CRAM-MD5 digest, an APOP digest or an EXTERNAL identity would leave
 * nothing to log in with. The machines build their capability lists and dispatch
 * tables from this list, so what is advertised and what is accepted agree.
 */

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
