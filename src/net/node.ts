/**
 * The node:net / node:tls socket layer: Deno always, Bun where a listener needs a TLS
 * feature its native sockets lack (choose.ts). Listeners of the node streams are
 * shared module functions that find their NodeSocket on the stream: no closures per
 * connection.
 */
import net from "node:net";
import tls from "node:tls";
import { Duplex as DuplexStream, type Duplex } from "node:stream";
import { noDelay, RUNTIME, TLS_WRAPS_STREAMS } from "../runtime.ts";
import { INVALID_SERVER_NAME, isValidServerName } from "../tls/server_name.ts";
import type {
  ClientTlsOptions,
  ClientTlsResult,
  ListenRequest,
  NetListener,
  NetSocket,
  ServerTlsConfig,
  ServerTlsRequest,
  ServerTlsResult,
  SocketOwner,
  Sockets,
  TlsFacts,
} from "./socket.ts";

const OWNER = Symbol("node socket");
type Stream = (net.Socket | Duplex) & { [OWNER]?: NodeSocket };

class NodeSocket implements NetSocket {
  owner: SocketOwner | undefined;
  /** The stream read and written: the TCP socket, then its TLS socket. */
  private stream: Stream;
  private head?: Buffer;
  private reading = false;
  private upgrading = false;
  private closeTold = false;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;

  constructor(private readonly tcp: net.Socket, owner?: SocketOwner) {
    this.owner = owner;
    this.stream = tcp;
    this.remoteAddress = tcp.remoteAddress;
    this.remotePort = tcp.remotePort;
    this.localAddress = tcp.localAddress;
    this.localPort = tcp.localPort;
    noDelay(tcp);
    listenTo(tcp, this);
  }

  get closed(): boolean {
    return this.stream.destroyed;
  }
  get peerEnded(): boolean {
    return this.stream.readableEnded;
  }
  get queued(): number {
    return this.stream.destroyed ? 0 : this.stream.writableLength;
  }
  get tlsAfterUnshift(): boolean {
    return TLS_WRAPS_STREAMS;
  }

  write(data: Uint8Array): boolean {
    if (this.stream.destroyed) return true;
    return this.stream.write(data);
  }
  pause(): void {
    this.stream.pause();
  }
  resume(): void {
    if (this.head) {
      this.stream.unshift(this.head);
      this.head = undefined;
    }
    // The data listener only now: adding it earlier would start the flow.
    if (!this.reading) {
      this.reading = true;
      this.stream.on("data", onData);
    }
    this.stream.resume();
  }
  unshift(bytes: Buffer): void {
    this.head = this.head ? Buffer.concat([this.head, bytes]) : bytes;
  }
  end(): void {
    this.stream.end();
  }
  destroy(): void {
    this.stream.destroy();
  }
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.tcp.setKeepAlive(enable, initialDelayMs);
  }
  ref(): void {
    this.tcp.ref();
  }
  unref(): void {
    this.tcp.unref();
  }

  /** @internal events of the streams */
  event(kind: "data" | "drain" | "end" | "error" | "close" | "connect", arg?: unknown): void {
    // During a TLS upgrade the handshake's own listeners decide.
    if (this.upgrading) return;
    if (kind === "close") {
      if (this.closeTold) return;
      this.closeTold = true;
    }
    const owner = this.owner;
    if (!owner) return;
    switch (kind) {
      case "data":
        return owner.socketData(this, arg as Buffer);
      case "drain":
        return owner.socketDrain(this);
      case "end":
        return owner.socketEnd(this);
      case "error":
        return owner.socketError(this, arg as Error);
      case "close":
        return owner.socketClose(this);
      case "connect":
        return owner.socketConnect?.(this);
    }
  }

  startTlsServer(request: ServerTlsRequest): Promise<ServerTlsResult> {
    let raw: Stream = this.stream;
    this.detachData(raw);
    if (this.head) {
      if (!TLS_WRAPS_STREAMS) return Promise.resolve(this.failUpgrade(`TLS data behind a PROXY header is not supported on ${RUNTIME}`));
      raw = withHead(raw as net.Socket, this.head);
      this.head = undefined;
    } else discardBuffered(raw as net.Socket);
    const first = request.configs[0]!;
    let chosen = 0;
    let sniName: string | undefined;
    const secure = new tls.TLSSocket(raw as net.Socket, {
      isServer: true,
      secureContext: secureContextOf(first),
      requestCert: request.requestCert,
      rejectUnauthorized: false,
      ALPNProtocols: first.alpn,
      ...(request.configs.length > 1
        ? {
          SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
            // Deno reports a missing name as "".
            const index = name && !isValidServerName(name) ? -1 : request.pick(name);
            if (index < 0) return cb(new Error(INVALID_SERVER_NAME));
            sniName = name;
            chosen = index;
            cb(null, secureContextOf(request.configs[index]!));
          },
        }
        : {}),
    });
    startQuietly(secure);
    return this.handshake(secure, "secure", request.timeoutMs, (): ServerTlsResult => {
      const facts: TlsFacts = {
        protocol: secure.getProtocol() ?? "",
        cipher: secure.getCipher()?.name ?? "",
        peerChain: request.requestCert ? presentedChain(secure) : [],
      };
      const serverName = sniName ?? (secure as unknown as { servername?: string | false | null }).servername;
      if (serverName) facts.serverName = serverName;
      if (secure.alpnProtocol) facts.alpn = secure.alpnProtocol;
      return { facts, chosen };
    }, (message) => ({ error: message ?? "connection closed by client" }), raw);
  }

  startTlsClient(options: ClientTlsOptions): Promise<ClientTlsResult> {
    const raw = this.stream as net.Socket;
    this.detachData(raw);
    let secure: tls.TLSSocket;
    try {
      secure = tls.connect({ ...options, rejectUnauthorized: false, socket: raw });
    } catch (err) {
      return Promise.resolve({ type: "error", message: (err as Error).message });
    }
    return this.handshake(secure, "secureConnect", 0, (): ClientTlsResult => {
      const chainError = secure.authorizationError as unknown as string | Error | null | undefined;
      const code = chainError instanceof Error ? (chainError as NodeJS.ErrnoException).code ?? chainError.message : chainError;
      const cert = secure.getPeerCertificate();
      return {
        type: "ok",
        ...(code ? { authorizationError: code } : {}),
        ...(cert && Object.keys(cert).length > 0 ? { peerCertificate: cert } : {}),
      };
    }, (message) => (message === undefined ? { type: "closed" } : { type: "error", message }), raw);
  }

  private detachData(raw: Stream): void {
    raw.removeListener("data", onData);
    this.reading = false;
    this.upgrading = true;
  }

  private failUpgrade(error: string): { error: string } {
    this.upgrading = false;
    this.owner = undefined;
    this.stream.destroy();
    return { error };
  }

  /**
   * Wait for `done` of `secure`; then it is the socket's stream (paused), or both are
   * destroyed and `failed` says why (its message; none when the peer closed).
   */
  private handshake<T>(
    secure: tls.TLSSocket,
    done: "secure" | "secureConnect",
    timeoutMs: number,
    describe: () => T,
    failed: (message?: string) => T,
    raw: Stream,
  ): Promise<T> {
    return new Promise((resolve) => {
      let finished = false;
      const finish = (value: T, ok: boolean) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        secure.removeListener("error", onError);
        secure.removeListener("close", onClose);
        this.upgrading = false;
        if (ok) {
          secure.pause();
          this.stream = secure;
          listenTo(secure, this);
        } else {
          this.owner = undefined;
          secure.destroy();
          raw.destroy();
        }
        resolve(value);
      };
      const fail = (message?: string) => finish(failed(message), false);
      const onError = (err: Error) => fail(err.message);
      const onClose = () => fail();
      // A peer that stalls mid-handshake gets `timeout`, like nginx (a backend's is bounded by its login deadline).
      const timer = timeoutMs > 0 ? setTimeout(() => fail("timed out"), timeoutMs) : undefined;
      secure.on("error", onError);
      secure.on("close", onClose);
      secure.once(done, () => {
        try {
          finish(describe(), true);
        } catch (err) {
          fail((err as Error).message);
        }
      });
      if (done === "secure") raw.resume();
    });
  }
}

function listenTo(stream: Stream, socket: NodeSocket): void {
  stream[OWNER] = socket;
  stream.on("drain", onDrain);
  stream.on("end", onEnd);
  stream.on("error", onError);
  stream.on("close", onClose);
  stream.on("connect", onConnect);
}

function onData(this: Stream, chunk: Buffer): void {
  this[OWNER]?.event("data", chunk);
}
function onDrain(this: Stream): void {
  this[OWNER]?.event("drain");
}
function onEnd(this: Stream): void {
  this[OWNER]?.event("end");
}
function onError(this: Stream, err: Error): void {
  this[OWNER]?.event("error", err);
}
function onClose(this: Stream): void {
  this[OWNER]?.event("close");
}
function onConnect(this: Stream): void {
  this[OWNER]?.event("connect");
}

/** One SecureContext per server configuration; throws when the certificate and key do not load. */
const contexts = new WeakMap<ServerTlsConfig, tls.SecureContext>();
export function secureContextOf(config: ServerTlsConfig): tls.SecureContext {
  let context = contexts.get(config);
  if (!context) contexts.set(config, context = tls.createSecureContext(config.context));
  return context;
}

/** Throw away plaintext the client pipelined behind the upgrade command. */
function discardBuffered(raw: net.Socket): void {
  raw.pause();
  while (raw.readableLength > 0 && raw.read() !== null) {
    // dropped: it was sent before TLS and must never be executed after it
  }
}

/** DER certificates the client presented, its own first (walks node's issuerCertificate links). */
function presentedChain(secure: tls.TLSSocket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const seen = new Set<string>();
  let cert = secure.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert && cert.raw && !seen.has(cert.fingerprint256 ?? cert.raw.toString("base64"))) {
    seen.add(cert.fingerprint256 ?? cert.raw.toString("base64"));
    out.push(cert.raw);
    cert = cert.issuerCertificate;
  }
  return out;
}

/**
 * Deno's TLSSocket starts its handshake a tick after it is made; when the bytes already
 * there fail it (a bogus record, then a close), start() destroys the socket and Deno's
 * next line throws on the handle it just dropped, where nothing can catch it. The
 * failure itself reaches the upgrade as an "error"; whatever start() throws ends the
 * socket like any other failure instead of escaping as an uncaught exception.
 */
function startQuietly(secure: tls.TLSSocket): void {
  const socket = secure as unknown as { _start?: () => void };
  const start = socket._start;
  if (typeof start !== "function") return;
  socket._start = function (this: tls.TLSSocket) {
    try {
      start.call(this);
    } catch (err) {
      this.destroy(err as Error);
    }
  };
}

/**
 * A stream that yields `head` and then everything `raw` receives: a connection whose
 * first bytes were already read (a TLS ClientHello in the packet of the PROXY header)
 * handed to node:tls. Works on Bun; Deno's TLSSocket needs a real socket handle.
 */
function withHead(raw: net.Socket, head: Buffer): Duplex {
  const stream: Duplex = new DuplexStream({
    read() {
      raw.resume();
    },
    write(chunk, encoding, cb) {
      raw.write(chunk, encoding, cb);
    },
    final(cb) {
      raw.end();
      cb();
    },
    destroy(err, cb) {
      raw.destroy();
      cb(err);
    },
  });
  raw.removeAllListeners("data");
  raw.on("data", (chunk: Buffer) => {
    if (!stream.push(chunk)) raw.pause();
  });
  raw.on("end", () => stream.push(null));
  raw.on("close", () => stream.destroy());
  raw.on("error", (err) => stream.destroy(err));
  stream.push(head);
  (stream as unknown as { setNoDelay: () => void }).setNoDelay = () => {};
  return stream;
}

function listen(request: ListenRequest, onAccept: (socket: NetSocket) => void): Promise<NetListener> {
  return new Promise((resolve, reject) => {
    const server = net.createServer({ pauseOnConnect: true }, (tcp) => onAccept(new NodeSocket(tcp)));
    server.once("error", reject);
    const done = () => {
      server.removeListener("error", reject);
      resolve({ close: () => server.close(), address: () => server.address() });
    };
    if (request.unix) server.listen({ path: request.host, backlog: request.backlog }, done);
    else {
      server.listen({
        host: request.host,
        port: request.port,
        backlog: request.backlog,
        ipv6Only: request.ipv6Only,
        // SO_REUSEPORT: several worker processes bind the same address, the kernel spreads connections
        ...(request.reusePort ? { reusePort: true } : {}),
      } as net.ListenOptions, done);
    }
  });
}

function connect(host: string, port: number, owner: SocketOwner): NetSocket {
  const tcp = net.connect({ host, port });
  tcp.pause();
  return new NodeSocket(tcp, owner);
}

function connectUnix(path: string, owner: SocketOwner): NetSocket {
  const stream = net.connect({ path });
  stream.pause();
  return new NodeSocket(stream, owner);
}

/** The node:net / node:tls socket layer. */
export const nodeSockets: Sockets = { name: "node", listen, connect, connectUnix };
