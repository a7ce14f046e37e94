/**
 * Picks the protocol's state machines for a server. The only place that knows
 * every protocol; the session stays protocol-neutral.
 */
import type { EffectiveServer, Protocol } from "../config/model.ts";
import type { BackendLogin, Credentials, LoginContext, PreauthMachine, ProtocolLines } from "./types.ts";
import { IMAP_LINES, ImapPreauth } from "./imap/preauth.ts";
import { ImapBackendLogin } from "./imap/backend_login.ts";
import { POP3_LINES, Pop3Preauth } from "./pop3/preauth.ts";
import { Pop3BackendLogin } from "./pop3/backend_login.ts";
import { SMTP_LINES, SmtpPreauth } from "./smtp/preauth.ts";
import { SmtpBackendLogin } from "./smtp/backend_login.ts";
import { SIEVE_LINES, SievePreauth } from "./sieve/preauth.ts";
import { SieveBackendLogin } from "./sieve/backend_login.ts";
import { backendIdCommand } from "./imap/id.ts";
import type { Wire } from "../wire/wire.ts";
import type { BackendStarttls } from "./backend_starttls.ts";
import { imapBackendStarttls } from "./imap/backend_starttls.ts";
import { pop3BackendStarttls } from "./pop3/backend_starttls.ts";
import { smtpBackendStarttls } from "./smtp/backend_starttls.ts";
import { sieveBackendStarttls } from "./sieve/backend_starttls.ts";
import { isPassthroughOnly, offeredMethods } from "./mechanisms.ts";

/** Built once, not per session. */
const LINES: Record<Protocol, ProtocolLines> = { imap: IMAP_LINES, pop3: POP3_LINES, smtp: SMTP_LINES, sieve: SIEVE_LINES };

/** The lines the session sends on its own for `protocol`, before or without a machine. */
export function protocolLines(protocol: Protocol): ProtocolLines {
  return LINES[protocol];
}

/**
 * The machines see only the methods the server's auth source can check (mechanisms.ts).
 * Their options are the server's settings with those methods: built once per server
 * and TLS flavour (a copy of every setting per connection was most of a greeting's work).
 */
export function createPreauth(server: EffectiveServer, implicitTls: boolean): PreauthMachine {
  switch (server.protocol) {
    case "imap":
      return new ImapPreauth(preauthOptions(server, implicitTls));
    case "pop3":
      return new Pop3Preauth(preauthOptions(server, implicitTls));
    case "smtp":
      return new SmtpPreauth(preauthOptions(server, implicitTls));
    case "sieve":
      return new SievePreauth(preauthOptions(server, implicitTls));
  }
}

/** Per server (a configuration generation's objects, never changed): [plain, implicit TLS]. */
const preauthCache = new WeakMap<EffectiveServer, [object?, object?]>();

/** The server's settings, its protocol's `*_auth` cut to what the auth source checks, and `implicitTls`. */
// deno-lint-ignore no-explicit-any
function preauthOptions(server: EffectiveServer, implicitTls: boolean): any {
  let cached = preauthCache.get(server);
  if (!cached) preauthCache.set(server, cached = []);
  const slot = implicitTls ? 1 : 0;
  const methods = `${server.protocol}_auth` as "imap_auth" | "pop3_auth" | "smtp_auth" | "sieve_auth";
  return cached[slot] ??= Object.freeze({ ...server, [methods]: offeredMethods(server, server[methods]), implicitTls });
}

interface BackendLoginParams {
  /** After the auth source's Auth-User/Auth-Pass overrides. */
  user: string;
  pass: string;
  /**
   * With `credentials.oauth` the backend login replays the client's XOAUTH2/
   * OAUTHBEARER payload; the session drops it when the auth source returned
   * Auth-Pass, so that password is used (LOGIN, USER/PASS, AUTH PLAIN).
   */
  credentials: Credentials;
  context: LoginContext;
  clientIp: string;
  clientHost: string;
  /** The client's port and the proxy's end of the client connection (proxy_imap_id). */
  clientPort?: number;
  localIp?: string;
  localPort?: number;
  /** The auth service's `Auth-SMTP-Auth: on|off` for this login (beyond nginx), over `proxy_smtp_auth`. */
  proxySmtpAuth?: boolean;
}

export function createBackendLogin(server: EffectiveServer, p: BackendLoginParams): BackendLogin {
  const oauth = p.credentials.oauth;
  switch (server.protocol) {
    case "imap":
      return new ImapBackendLogin(p.context.imapTag ?? "* ", p.user, p.pass, oauth, imapIdCommand(server, p));
    case "pop3":
      return new Pop3BackendLogin(p.user, p.pass, oauth);
    case "smtp":
      return new SmtpBackendLogin({
        serverName: server.server_name,
        xclient: server.xclient,
        // With passthrough alone, AUTH towards the backend is the only password check there is.
        proxySmtpAuth: (p.proxySmtpAuth ?? server.proxy_smtp_auth) || isPassthroughOnly(server),
        clientAddr: p.clientIp,
        clientHost: p.clientHost,
        user: p.user || undefined,
        pass: p.pass || undefined,
        method: p.credentials.method,
        context: p.context,
        ...(oauth ? { oauth } : {}),
      });
    case "sieve":
      return new SieveBackendLogin(p.user, p.pass, oauth);
  }
}

/** proxy_imap_id on: the ID line sent before the backend login, else undefined. */
function imapIdCommand(server: EffectiveServer, p: BackendLoginParams): Wire<"imap"> | undefined {
  if (!server.proxy_imap_id) return undefined;
  return backendIdCommand(p.context.imapTag ?? "* ", p.context.imapId ?? [], {
    clientIp: p.clientIp,
    clientPort: p.clientPort,
    localIp: p.localIp,
    localPort: p.localPort,
  });
}

/**
 * The protocol's STARTTLS preamble toward a backend (`proxy_starttls`, `Auth-SSL-Upstream: starttls`).
 * @example createBackendStarttls("pop3", "mx.example.com").onReply("+OK ready\r\n") // { type: "send", data: "STLS\r\n" }
 */
export function createBackendStarttls(protocol: Protocol, serverName: string): BackendStarttls {
  switch (protocol) {
    case "imap":
      return imapBackendStarttls();
    case "pop3":
      return pop3BackendStarttls();
    case "smtp":
      return smtpBackendStarttls(serverName);
    case "sieve":
      return sieveBackendStarttls();
  }
}
