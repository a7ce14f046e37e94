/**
 * What the session asks an auth source, and what it gets back. auth_http is one
 * source; the passthrough backend and the user table are others.
 */
import type { Protocol } from "../config/model.ts";
import type { Credentials } from "../protocols/types.ts";
import type { SessionContext } from "../log/logger.ts";
import type { ClientTlsInfo } from "../tls/client_info.ts";
import type { LeaveSignal } from "./client_left.ts";

export type { ClientTlsInfo };

export interface ProxyProtocolInfo {
  addr: string;
  port: number;
  serverAddr: string;
  serverPort: number;
}

export interface AuthRequest {
  protocol: Protocol;
  credentials: Credentials;
  /** Auth-Login-Attempt, 1-based. */
  attempt: number;
  /** Client-IP (after realip); "unix:" + path for UNIX-socket clients. */
  clientIp: string;
  /** SMTP only: Client-Host. */
  clientHost?: string;
  /** Client-Port (with auth_http_extra_headers) and `$remote_port`; absent for UNIX-socket clients. */
  clientPort?: number;
  /** Server-IP/Server-Port (with auth_http_extra_headers), `$server_addr`/`$server_port`: the proxy's end of the client connection. */
  serverAddr?: string;
  serverPort?: number;
  proxyProtocol?: ProxyProtocolInfo;
  tls?: ClientTlsInfo;
  /** The session's log context, so that an auth source's error lines name the client. */
  log?: SessionContext;
  /** Aborted when the client goes: a WAIT loop, its delay and a request in flight end with it. */
  signal?: LeaveSignal;
}

/** How the proxy talks to a backend: implicit TLS, STARTTLS/STLS, or plaintext. */
export type UpstreamTlsMode = "on" | "starttls" | "off";

export type AuthResult =
  /**
   * Connect to this backend; user/pass override the client's when set.
   * `backendDecides`: nobody checked the credentials yet (passthrough), so the
   * backend refusing the login is the answer to the client, not an internal error.
   */
  | {
    type: "ok";
    server: string;
    port: number;
    user?: string;
    pass?: string;
    backendDecides?: boolean;
    proxySmtpAuth?: boolean;
    /** Beyond nginx: `Auth-SSL-Upstream`, TLS to this backend over proxy_ssl/proxy_starttls. */
    sslUpstream?: UpstreamTlsMode;
  }
  /** Refused: reply with `text` (SMTP: prefixed by errorCode), after `wait` seconds when > 0, then continue; else close. */
  | { type: "error"; text: string; wait: number; errorCode?: string }
  /**
   * The auth source failed (down, timeout, malformed answer): internal error line, close. `reason` is for the log.
   * `unreachable`: no answer at all (refused, not found, timed out, closed before the headers), so
   * another auth_http URL may be tried (multi_url.ts).
   */
  | { type: "internal"; reason: string; unreachable?: boolean };

export interface AuthSource {
  authenticate(request: AuthRequest): Promise<AuthResult>;
  /** Passthrough: the backend refused the credentials of `request` (counted by limit_login). */
  backendRefused?(request: AuthRequest): void | Promise<void>;
  close(): void;
}
