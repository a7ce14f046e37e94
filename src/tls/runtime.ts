/**
 * What the runtime's TLS server can do, found by experiment (tests/integration/tls/options.test.ts proves each row).
 * Bun's node:tls runs on BoringSSL, Deno's on rustls; both accept every node:tls option
 * but silently ignore some. This table is the only place that knows which, so that the
 * config check can refuse what would otherwise be ignored.
 */

type RuntimeName = "Bun" | "Deno" | "Node.js";

export interface TlsRuntime {
  name: RuntimeName;
  /** The TLS library behind node:tls on this runtime. */
  library: string;
  /** Several ssl_certificate pairs, the one matching the client's signature algorithms chosen. */
  multipleCertificates: boolean;
  /** ssl_ciphers (TLS 1.2 cipher list) is applied. */
  cipherList: boolean;
  /** ssl_prefer_server_ciphers on is applied. */
  serverCipherPreference: boolean;
  /** ssl_ecdh_curve restricts the key exchange groups. */
  ecdhCurves: boolean;
  /** DHE cipher suites with ssl_dhparam exist. */
  dhParams: boolean;
  /** ssl_session_tickets off stops the server from issuing tickets. */
  disableTickets: boolean;
  /** ssl_session_ticket_key is used to encrypt tickets (else a random per-process key). */
  ticketKeys: boolean;
  /** A server-side session-id cache for wrapped sockets (ssl_session_cache builtin). */
  sessionIdCache: boolean;
  /** TLSv1 and TLSv1.1 can be enabled. */
  legacyProtocols: boolean;
}

const BUN: TlsRuntime = {
  name: "Bun",
  library: "BoringSSL",
  multipleCertificates: true,
  cipherList: true,
  serverCipherPreference: true,
  ecdhCurves: true,
  dhParams: false,
  disableTickets: true,
  ticketKeys: false,
  sessionIdCache: false,
  legacyProtocols: true,
};

const DENO: TlsRuntime = {
  name: "Deno",
  library: "rustls",
  multipleCertificates: false,
  cipherList: false,
  serverCipherPreference: false,
  ecdhCurves: false,
  dhParams: false,
  disableTickets: false,
  ticketKeys: false,
  sessionIdCache: false,
  legacyProtocols: false,
};

const NODE: TlsRuntime = {
  name: "Node.js",
  library: "OpenSSL",
  multipleCertificates: true,
  cipherList: true,
  serverCipherPreference: true,
  ecdhCurves: true,
  dhParams: true,
  disableTickets: true,
  ticketKeys: false,
  sessionIdCache: false,
  legacyProtocols: true,
};

/** The TLS capabilities of the runtime this process runs on. */
export function tlsRuntime(): TlsRuntime {
  const g = globalThis as Record<string, unknown>;
  if (g.Bun !== undefined) return BUN;
  if (g.Deno !== undefined) return DENO;
  return NODE;
}
