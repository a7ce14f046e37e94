/**
 * The runtime this process runs on (Bun, Deno, Node.js), detected once, and what
 * differs between them outside the socket adapters of src/net/: capability flags, the
 * TLS capability table of node:tls, the version string. No other file asks
 * `globalThis.Bun` or `globalThis.Deno`; code that needs a runtime's own API (FFI,
 * Deno.listen, Bun.listen) asks here which runtime it is and gets its namespace here.
 */

export type RuntimeName = "Bun" | "Deno" | "Node.js";

const found = globalThis as { Bun?: { version: string; gc(sync: boolean): void }; Deno?: { version: { deno: string } } };

/** The runtime of this process. */
export const RUNTIME: RuntimeName = found.Bun !== undefined ? "Bun" : found.Deno !== undefined ? "Deno" : "Node.js";

/**
 * The runtime's own namespace (`Bun` or `Deno`), typed by the caller with the few
 * calls it uses; undefined on Node.js.
 * @example if (RUNTIME === "Deno") runtimeNamespace<{ listen(o: object): unknown }>().listen(...)
 */
export function runtimeNamespace<T>(): T {
  return (RUNTIME === "Bun" ? found.Bun : found.Deno) as T;
}

/**
 * A synchronous full garbage collection, where the runtime offers one without a flag
 * (Bun); undefined elsewhere (V8 collects on idle by itself).
 */
export const fullCollection: (() => void) | undefined = found.Bun ? () => found.Bun!.gc(true) : undefined;

/**
 * What a serving process's environment must add before it serves, or undefined when
 * nothing: on Bun, JavaScriptCore's FTL tier off (`BUN_JSC_useFTLJIT=0`) unless the
 * environment says otherwise. The proxy's JavaScript is short glue between native
 * calls, which never runs long enough to repay the FTL's compilation: measured with it
 * off, less CPU per login, in storms and at steady state, and less memory after the
 * first burst of logins (docs/performance.md, "JavaScriptCore's FTL tier"). Bun reads
 * these options only when it starts.
 */
export function servingEnvironment(): Record<string, string> | undefined {
  if (RUNTIME !== "Bun" || process.env.BUN_JSC_useFTLJIT !== undefined) return undefined;
  return { BUN_JSC_useFTLJIT: "0" };
}

/** Which runtime runs this process, with its version: "bun 1.4.5". */
export function runtimeVersion(): string {
  if (found.Bun) return `bun ${found.Bun.version}`;
  if (found.Deno) return `deno ${found.Deno.version.deno}`;
  return `node ${process.versions.node}`;
}

/**
 * Bun sets TCP_NODELAY on every TCP socket it accepts or connects (seen with strace);
 * Deno's node:net leaves Nagle's algorithm on. nginx's mail proxy sends without
 * Nagle's delay, so node:net sockets ask for it where the runtime does not.
 */
const RUNTIME_SETS_NODELAY = RUNTIME === "Bun";

/** TCP_NODELAY on a node:net socket, where the runtime does not set it itself. */
export function noDelay(socket: { setNoDelay?: (noDelay?: boolean) => unknown }): void {
  if (!RUNTIME_SETS_NODELAY) socket.setNoDelay?.(true);
}

/**
 * Whether node:tls can wrap a plain stream as a TLS server socket (a PROXY header's
 * wrapper that replays the ClientHello which came with it). Deno's TLSSocket needs a
 * socket handle.
 */
export const TLS_WRAPS_STREAMS = RUNTIME !== "Deno";

/**
 * What node:tls's server can do on each runtime, found by experiment (tests/tls prove
 * each row). Bun's node:tls runs on BoringSSL, Deno's on rustls; both accept every
 * node:tls option but silently ignore some. This table is the only place that knows
 * which, so that the config check can refuse what would otherwise be ignored. (Bun's
 * native sockets lack a few more; a listener needing one of those uses node:tls, see
 * src/net/choose.ts.)
 */
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
  return tlsRuntimeNamed(RUNTIME);
}

/** For tests: the table of one runtime by name. */
export function tlsRuntimeNamed(name: RuntimeName): TlsRuntime {
  return name === "Bun" ? BUN : name === "Deno" ? DENO : NODE;
}
