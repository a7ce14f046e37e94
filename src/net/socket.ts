/**
 * The socket layer's one interface: what everything above it (session shell, relay,
 * backend login, TLS upgrader, PROXY header, health probes, listeners) uses, with two
 * implementations: Bun's native sockets (bun.ts) and node:net/node:tls (node.ts).
 * choose.ts picks one per listener and per backend connection.
 *
 * A socket tells one owner what happens (no event emitter, no closures per
 * connection): a session, then its relay, owns the client socket; owners are
 * long-lived objects whose methods receive the socket.
 */
import type tls from "node:tls";

/** Who is told what happens on a socket; the relay owns two, hence the socket argument. */
export interface SocketOwner {
  socketData(socket: NetSocket, chunk: Buffer): void;
  /** Everything written has gone to the kernel after a write() returned false. */
  socketDrain(socket: NetSocket): void;
  /** The peer half-closed (FIN); this side ends too once its queue is written. */
  socketEnd(socket: NetSocket): void;
  socketError(socket: NetSocket, err: Error): void;
  /** Once, when the socket is gone (after an error, an end or destroy()). */
  socketClose(socket: NetSocket): void;
  /** A connect() socket is connected. */
  socketConnect?(socket: NetSocket): void;
}

export interface NetSocket {
  /** Receives the events; none are delivered while it is unset or during a TLS upgrade. */
  owner: SocketOwner | undefined;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  /** Gone: closed by either side or destroyed. */
  readonly closed: boolean;
  /** The peer sent its FIN. */
  readonly peerEnded: boolean;
  /**
   * Bytes of the writes not yet wholly handed to the kernel, each counted whole until its
   * last byte is (node:net's writableLength): a session's bound on unread replies counts them.
   */
  readonly queued: number;
  /**
   * Whether startTlsServer() can run over bytes already read (unshift() before it): a
   * TLS ClientHello that came in one packet with a PROXY header.
   */
  readonly tlsAfterUnshift: boolean;
  /** Queue `data`; false once it waits for the peer to read (socketDrain follows). */
  write(data: Uint8Array): boolean;
  /** Stop delivering data (and reading from the kernel). Sockets start paused. */
  pause(): void;
  resume(): void;
  /** Bytes already read that are delivered again first (or fed to the TLS handshake). */
  unshift(bytes: Buffer): void;
  /** Half-close after what is queued is written. */
  end(): void;
  /** Close now, dropping what is queued. */
  destroy(): void;
  setKeepAlive(enable: boolean, initialDelayMs?: number): void;
  /** Whether this socket keeps the process alive (node:net's ref/unref); it does until unref(). */
  ref(): void;
  unref(): void;
  /**
   * Become the server side of TLS (implicit TLS, STARTTLS): plaintext already read and
   * not delivered is dropped (the CVE-2011-0411 family). Resolves once, never rejects; on
   * failure the socket is destroyed without telling the owner.
   */
  startTlsServer(request: ServerTlsRequest): Promise<ServerTlsResult>;
  /** Become the client side of TLS (to a backend). As startTlsServer, for the client. */
  startTlsClient(options: ClientTlsOptions): Promise<ClientTlsResult>;
}

/** One server's TLS settings, built once per configuration. */
export interface ServerTlsConfig {
  /** node:tls context options; each adapter turns them into its own form once. */
  context: tls.SecureContextOptions;
  /** The ALPN ids offered. */
  alpn: string[];
}

/** What an upgrader asks of every handshake on an address; made once per upgrader. */
export interface ServerTlsRequest {
  /** The servers of the address, the default first; several only with SNI. */
  configs: readonly ServerTlsConfig[];
  /** With several configs: the index the client's server name picks; -1 refuses the name. */
  pick(serverName: string): number;
  /** Ask for a client certificate (not verified by the TLS library: see tls/client_verify.ts). */
  requestCert: boolean;
  /** A handshake not done within this fails as "timed out". */
  timeoutMs: number;
}

/** What a finished handshake says about the client. */
export interface TlsFacts {
  protocol: string;
  cipher: string;
  /** The SNI name the client sent, as sent. */
  serverName?: string;
  alpn?: string;
  /** DER certificates the client presented, its own first; empty without one. */
  peerChain: Uint8Array[];
}

export type ServerTlsResult = { facts: TlsFacts; chosen: number } | { error: string };

/** The client side's options, a subset of node:tls's. */
export type ClientTlsOptions = Pick<tls.ConnectionOptions, "ca" | "cert" | "key" | "servername" | "minVersion" | "maxVersion" | "ciphers">;

export type ClientTlsResult =
  /** `authorizationError`: the chain check's error code (the name is checked by the caller). */
  | { type: "ok"; authorizationError?: string; peerCertificate?: tls.PeerCertificate }
  | { type: "error"; message: string }
  | { type: "closed" };

/** Where and how to listen. */
export interface ListenRequest {
  /** An IP address, or a unix socket path with `unix`. */
  host: string;
  port: number;
  unix?: boolean;
  backlog: number;
  ipv6Only?: boolean;
  reusePort?: boolean;
}

export interface NetListener {
  /** Stop accepting; accepted sockets go on. */
  close(): void;
  address(): { address: string; port: number; family: string } | string | null;
}

/** One socket layer. */
export interface Sockets {
  readonly name: "native" | "node";
  /** Rejects with the runtime's error (its `code`, e.g. EADDRINUSE) when it cannot bind. */
  listen(request: ListenRequest, onAccept: (socket: NetSocket) => void): Promise<NetListener>;
  /** Connecting starts at once; `owner` hears socketConnect, or socketError and socketClose. */
  connect(host: string, port: number, owner: SocketOwner): NetSocket;
  /** As connect(), to a unix socket. */
  connectUnix(path: string, owner: SocketOwner): NetSocket;
}
