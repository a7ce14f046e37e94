/** What a session is given: its server, listener, auth source and the shared services. */
import type { TlsUpgrader } from "../tls/upgrader.ts";
import type { NetSocket } from "../net/socket.ts";
import type { EffectiveServer, ListenSpec } from "../config/model.ts";
import type { AuthSource } from "../auth/types.ts";
import type { TrustedPeers } from "./realip.ts";
import type { SessionObserver } from "../metrics/session_observer.ts";
import type { ConnectionCounter } from "../auth/limits.ts";
import type { Logger } from "../log/logger.ts";

export interface SessionDeps {
  server: EffectiveServer;
  listen: ListenSpec;
  auth: AuthSource;
  logger: Logger;
  /** Upgrades the socket for STARTTLS / implicit TLS; absent when the server has no TLS. */
  tls?: TlsUpgrader;
  /** Resolves the SMTP client host name (Client-Host, XCLIENT NAME). */
  resolveClientHost?: (ip: string) => Promise<string>;
  /** `set_real_ip_from` of the server: peers allowed to set the client address with a PROXY header. */
  trustedPeers?: TrustedPeers;
  /** Metrics and the access log. */
  observer?: SessionObserver;
  /** limit_conn: open connections per client IP of this instance. */
  connections?: ConnectionCounter;
  /** Servers sharing the address (SNI): the deps of the server the handshake picked. */
  forServer?: (server: EffectiveServer) => ServerDeps | undefined;
}

/** What a session takes from the server it serves; swapped when SNI picks another server. */
export type ServerDeps = Pick<SessionDeps, "server" | "logger" | "auth" | "resolveClientHost" | "trustedPeers">;
