/**
 * Bun's native socket layer (Bun.listen, Bun.connect, upgradeTLS): what choose.ts
 * gives a listener on Bun unless it needs a TLS feature only node:tls has. The
 * handlers are shared module objects that find their BunSocket in `socket.data`: no
 * closures per connection. Bun's write() takes what the kernel takes and returns the
 * count; the rest waits here and goes on `drain`.
 */
import { isIPv4 } from "node:net";
import { runtimeNamespace } from "../runtime.ts";
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
} from "./socket.ts";
import type tls from "node:tls";

// No type package for Bun's own API here (only @types/node): the calls used, typed by hand.
interface Native {
  data: BunSocket;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  readonly localAddress?: string;
  readonly localPort?: number;
  readonly authorized?: boolean;
  readonly alpnProtocol?: string | false | null;
  write(data: Uint8Array): number;
  /** Without an argument: shutdown(SHUT_WR), a FIN; end() would close(2) at once. */
  shutdown(): void;
  /** close(2) with SO_LINGER 0: a reset. */
  terminate(): void;
  /**
   * close(2) at once, as node:net's destroy() (Bun's node:net uses it; not in Bun's
   * documented API): a FIN, no setsockopt. end() would uncork first (TCP_CORK),
   * terminate() set SO_LINGER 0 (a reset).
   */
  close(): void;
  pause(): void;
  resume(): void;
  setKeepAlive(enable: boolean, initialDelay?: number): boolean;
  ref(): void;
  unref(): void;
  getTLSVersion(): string | null;
  getCipher(): { name: string } | null;
  getServername(): string | undefined;
  getPeerCertificate(): (tls.PeerCertificate & { raw?: Buffer }) | undefined | null;
  getAuthorizationError(): (Error & { code?: string }) | null;
  upgradeTLS(options: { isServer?: boolean; tls: object; socket: Handlers; data: BunSocket }): [Native, Native];
}
interface Handlers {
  open(s: Native): void;
  data(s: Native, chunk: Buffer): unknown;
  drain(s: Native): unknown;
  end(s: Native): unknown;
  error(s: Native, err: Error): unknown;
  close(s: Native, err?: Error): unknown;
  handshake?(s: Native, success: boolean, err: Error | null): void;
}
interface NativeListener {
  readonly hostname: string;
  readonly port: number;
  readonly unix?: string;
  stop(closeActive?: boolean): void;
}
interface BunApi {
  listen(options: object): NativeListener;
  connect(options: ({ hostname: string; port: number } | { unix: string }) & { allowHalfOpen: boolean; socket: Handlers; data: BunSocket }): Promise<Native>;
}

/** node:tls's version names as Bun's TLS options spell them. */
const TLS_VERSION: Record<string, number> = { TLSv1: 0x301, "TLSv1.1": 0x302, "TLSv1.2": 0x303, "TLSv1.3": 0x304 };

/** The local end of a listener's connections, when the listener has one address. */
type LocalAddress = { address: string; port: number };

type PendingTls = {
  resolve: (result: boolean) => void;
  timer?: ReturnType<typeof setTimeout>;
};

class BunSocket implements NetSocket {
  owner: SocketOwner | undefined;
  native?: Native;
  /** Written by us, not yet taken by the kernel; made at the first write the kernel does not take whole (most sockets never have one). */
  private pending?: Uint8Array[];
  /** The whole length of every write not yet wholly taken by the kernel (`queued`). */
  private pendingBytes = 0;
  /** Bytes of the first pending write that the kernel took already. */
  private headWritten = 0;
  /** Data that came while paused; delivered on resume. */
  private held?: Buffer[];
  /** The peer's FIN came while paused or behind held data: told on resume, after the data. */
  private finHeld = false;
  /** Whether the owner hears of data (see pause()). */
  private paused = true;
  /** Whether Bun reads from the kernel. */
  private nativePaused = false;
  private ending = false;
  private unrefed = false;
  /** Upgraded to TLS (or upgrading). */
  private secure = false;
  private waitingDrain = false;
  private gone = false;
  private ended = false;
  private tls?: PendingTls;
  // Each of Bun's address getters is a getpeername/getsockname call, not cached: read when
  // first asked (a backend's never are), and a listener on one address knows its own.
  private remoteAddressRead?: string;
  private remotePortRead?: number;
  private localAddressRead?: string;
  private localPortRead?: number;

  constructor(owner?: SocketOwner, local?: LocalAddress) {
    this.owner = owner;
    this.localAddressRead = local?.address;
    this.localPortRead = local?.port;
  }

  opened(native: Native): void {
    this.native = native;
    if (this.gone) return native.terminate();
    if (this.unrefed) native.unref();
    this.flush();
  }

  get remoteAddress(): string | undefined {
    return this.remoteAddressRead ??= this.native?.remoteAddress;
  }
  get remotePort(): number | undefined {
    return this.remotePortRead ??= this.native?.remotePort;
  }
  get localAddress(): string | undefined {
    return this.localAddressRead ??= this.native?.localAddress;
  }
  get localPort(): number | undefined {
    return this.localPortRead ??= this.native?.localPort;
  }

  get closed(): boolean {
    return this.gone;
  }
  get peerEnded(): boolean {
    return this.ended;
  }
  get queued(): number {
    return this.pendingBytes;
  }
  get tlsAfterUnshift(): boolean {
    return false;
  }

  write(data: Uint8Array): boolean {
    if (this.gone) return true;
    if (this.pending || !this.native || this.tls) {
      this.queue(data, 0);
    } else {
      const n = this.native.write(data);
      if (n < data.length) this.queue(data, Math.max(n, 0));
    }
    if (this.pendingBytes === 0) return true;
    this.waitingDrain = true;
    return false;
  }

  /** `written`: how much of `data` the kernel already took. */
  private queue(data: Uint8Array, written: number): void {
    // Bun may reuse a received chunk's memory once its handler returns.
    const copy = new Uint8Array(data.subarray(written));
    if (this.pending) this.pending.push(copy);
    else {
      this.pending = [copy];
      this.headWritten = written;
    }
    // A write counts whole until its last byte is written, as node:net's writableLength does.
    this.pendingBytes += data.length;
  }

  /** @internal the kernel takes more */
  flush(): void {
    const native = this.native;
    if (!native || this.tls || this.gone) return;
    const q = this.pending;
    while (q && q.length > 0) {
      const chunk = q[0]!;
      const n = Math.max(native.write(chunk), 0);
      if (n < chunk.length) {
        q[0] = chunk.subarray(n);
        this.headWritten += n;
        return;
      }
      this.pendingBytes -= this.headWritten + chunk.length;
      this.headWritten = 0;
      q.shift();
    }
    this.pending = undefined;
    if (this.ending) native.shutdown();
    if (this.waitingDrain) {
      this.waitingDrain = false;
      this.owner?.socketDrain(this);
    }
  }

  /**
   * Only delivery stops here. Bun's pause() and resume() each cost an epoll_ctl, a
   * writable wake-up with a TCP_CORK setsockopt and a drain call, then another epoll_ctl,
   * and most pauses (around each command, a login, the relay's short back-pressure) end
   * before the peer sends more: the first chunk that comes while paused stops Bun from
   * reading (received()), so one chunk at most waits here.
   */
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    if (this.held || this.finHeld) setImmediate(deliverHeld, this);
    else this.readAgain();
  }
  private readAgain(): void {
    if (!this.nativePaused || this.gone) return;
    this.nativePaused = false;
    this.native?.resume();
  }
  unshift(bytes: Buffer): void {
    (this.held ??= []).unshift(bytes);
  }
  end(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    // A FIN, as node:net sends: Bun's end() would close at once, so that what the peer sent
    // meanwhile, unread, makes the kernel answer with a reset that can destroy our last reply.
    if (this.pendingBytes === 0 && this.native && !this.tls) this.native.shutdown();
  }
  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    this.dropPending();
    // A plain socket closes as node:net's destroy() does, with a FIN (a reset only when
    // unread bytes wait, the kernel's rule), not terminate()'s reset: the peer (an auth
    // service, a backend) sees a close, not an error, and it costs no setsockopt.
    if (this.tls || this.secure) this.native?.terminate();
    else this.native?.close();
    if (this.tls) return this.handshakeDone(false);
    // As node:net does, the owner hears of it on a later turn, not inside its own call.
    setImmediate(tellClosed, this);
  }
  private dropPending(): void {
    this.pending = undefined;
    this.pendingBytes = 0;
    this.headWritten = 0;
  }
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.native?.setKeepAlive(enable, initialDelayMs);
  }
  ref(): void {
    this.unrefed = false;
    this.native?.ref();
  }
  unref(): void {
    this.unrefed = true;
    this.native?.unref();
  }

  /** @internal */
  received(chunk: Buffer): void {
    if (this.tls) return;
    if (!this.paused && !this.held) return this.owner?.socketData(this, chunk);
    (this.held ??= []).push(chunk);
    if (this.paused && !this.nativePaused) {
      this.nativePaused = true;
      this.native?.pause();
    }
  }
  /** @internal */
  deliverHeld(): void {
    while (this.held && !this.paused) {
      const chunk = this.held.shift();
      if (this.held.length === 0) this.held = undefined;
      if (chunk) this.owner?.socketData(this, chunk);
    }
    if (this.paused || this.gone) return;
    if (!this.finHeld) return this.readAgain();
    this.finHeld = false;
    this.peerFin();
  }
  /** @internal the peer's FIN: end this side too, as node:net does without allowHalfOpen */
  peerFin(): void {
    if (this.tls) {
      this.ended = true;
      return;
    }
    // Not before the data that came ahead of it, nor while the owner does not read.
    if (this.paused || this.held) {
      this.finHeld = true;
      return;
    }
    this.ended = true;
    this.owner?.socketEnd(this);
    this.end();
  }
  /** @internal */
  failed(err: Error): void {
    if (this.tls) return;
    this.owner?.socketError(this, err);
  }
  /** @internal */
  closedNow(): void {
    if (this.tls) return this.handshakeDone(false);
    if (this.gone) return;
    this.gone = true;
    this.dropPending();
    this.owner?.socketClose(this);
  }

  startTlsServer(request: ServerTlsRequest): Promise<ServerTlsResult> {
    if (request.configs.length > 1) return Promise.resolve(this.failTls("several certificates by server name need node:tls"));
    if (this.held && this.held.length > 0 && !this.paused) return Promise.resolve(this.failTls("TLS data behind a PROXY header needs node:tls"));
    // Plaintext read behind the upgrade command is dropped, never executed after it.
    this.held = undefined;
    const config = request.configs[0]!;
    return this.upgrade(true, nativeServerOptions(config, request.requestCert), request.timeoutMs).then((ok): ServerTlsResult => {
      if (!ok) return { error: this.tlsError ?? "connection closed by client" };
      const native = this.native!;
      const cert = request.requestCert ? native.getPeerCertificate() : undefined;
      const serverName = native.getServername();
      const alpn = native.alpnProtocol;
      return {
        facts: {
          protocol: native.getTLSVersion() ?? "",
          cipher: native.getCipher()?.name ?? "",
          // Bun's native socket shows the client's own certificate only, no chain (choose.ts).
          peerChain: cert?.raw ? [new Uint8Array(cert.raw)] : [],
          ...(serverName ? { serverName } : {}),
          ...(alpn ? { alpn } : {}),
        },
        chosen: 0,
      };
    });
  }

  startTlsClient(options: ClientTlsOptions): Promise<ClientTlsResult> {
    return this.upgrade(false, nativeClientOptions(options), 0).then((ok): ClientTlsResult => {
      if (!ok) return this.tlsError ? { type: "error", message: this.tlsError } : { type: "closed" };
      const native = this.native!;
      const code = this.verifyError;
      const cert = native.getPeerCertificate();
      return {
        type: "ok",
        ...(code ? { authorizationError: code } : {}),
        ...(cert && Object.keys(cert).length > 0 ? { peerCertificate: cert } : {}),
      };
    });
  }

  private tlsError?: string;
  private verifyError?: string;

  private failTls(error: string): { error: string } {
    this.owner = undefined;
    this.destroy();
    return { error };
  }

  private upgrade(isServer: boolean, options: object, timeoutMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const native = this.native;
      if (!native || this.gone) return resolve(false);
      this.tls = { resolve };
      if (timeoutMs > 0) {
        this.tls.timer = setTimeout(() => {
          this.tlsError = "timed out";
          this.handshakeDone(false);
        }, timeoutMs);
      }
      try {
        const [, secure] = native.upgradeTLS({ ...(isServer ? { isServer } : {}), tls: options, socket: TLS_HANDLERS, data: this });
        this.native = secure;
        this.secure = true;
        secure.resume();
        this.nativePaused = false;
      } catch (err) {
        this.tlsError = (err as Error).message;
        this.handshakeDone(false);
      }
    });
  }

  /**
   * @internal Bun's word on the handshake: `success` false either fails it (a protocol
   * error, EPROTO: plaintext, no common ALPN id) or only says the peer's certificate did
   * not verify (the chain's error code), and the handshake is done.
   */
  handshakeEnded(success: boolean, err: Error | null): void {
    if (success || (err as { code?: string } | null)?.code !== "EPROTO") return this.handshakeDone(true, success ? null : err);
    this.tlsError = err!.message;
    this.handshakeDone(false);
  }

  /** @internal the handshake's end; `verifyError`: why the peer's certificate did not verify */
  handshakeDone(ok: boolean, verifyError?: Error | null): void {
    const pending = this.tls;
    if (!pending) return;
    this.tls = undefined;
    clearTimeout(pending.timer);
    this.verifyError = (verifyError as { code?: string } | null | undefined)?.code ?? verifyError?.message;
    if (ok) {
      // paused for the owner; Bun reads on (pause())
      this.paused = true;
      this.flush();
    } else {
      this.owner = undefined;
      if (!this.gone) {
        this.gone = true;
        this.native?.terminate();
      }
    }
    pending.resolve(ok);
  }
}

function tellClosed(socket: BunSocket): void {
  socket.owner?.socketClose(socket);
}
function deliverHeld(socket: BunSocket): void {
  socket.deliverHeld();
}

function nativeServerOptions(config: ServerTlsConfig, requestCert: boolean): object {
  let converted = serverOptions.get(config);
  if (!converted) {
    const c = config.context;
    converted = {
      key: c.key,
      cert: c.cert,
      ...(c.ca ? { ca: c.ca } : {}),
      ...(c.ciphers ? { ciphers: c.ciphers } : {}),
      ...(c.ecdhCurve ? { ecdhCurve: c.ecdhCurve } : {}),
      ...(c.secureOptions ? { secureOptions: c.secureOptions } : {}),
      ...(c.minVersion ? { minVersion: TLS_VERSION[c.minVersion] } : {}),
      ...(c.maxVersion ? { maxVersion: TLS_VERSION[c.maxVersion] } : {}),
      // Bun wants the ALPN list in its wire form: length-prefixed ids.
      ...(config.alpn.length ? { ALPNProtocols: Buffer.concat(config.alpn.map((id) => Buffer.concat([Buffer.from([id.length]), Buffer.from(id)]))) } : {}),
    };
    serverOptions.set(config, converted);
  }
  return requestCert ? { ...converted, requestCert: true, rejectUnauthorized: false } : converted;
}
const serverOptions = new WeakMap<ServerTlsConfig, object>();

function nativeClientOptions(o: ClientTlsOptions): object {
  return {
    rejectUnauthorized: false,
    ...(o.ca ? { ca: o.ca } : {}),
    ...(o.cert ? { cert: o.cert, key: o.key } : {}),
    ...(o.servername ? { serverName: o.servername } : {}),
    ...(o.ciphers ? { ciphers: o.ciphers } : {}),
    ...(o.minVersion ? { minVersion: TLS_VERSION[o.minVersion] } : {}),
    ...(o.maxVersion ? { maxVersion: TLS_VERSION[o.maxVersion] } : {}),
  };
}

// After upgradeTLS the plain half shares `data` with the TLS half: only the current one speaks.
const COMMON: Omit<Handlers, "open"> = {
  data: (s, chunk) => s.data.native === s && s.data.received(chunk),
  drain: (s) => s.data.native === s && s.data.flush(),
  end: (s) => s.data.native === s && s.data.peerFin(),
  error: (s, err) => s.data.native === s && s.data.failed(err),
  close: (s) => s.data.native === s && s.data.closedNow(),
};
const CLIENT_HANDLERS: Handlers = {
  ...COMMON,
  open: (s) => {
    s.data.opened(s);
    s.data.owner?.socketConnect?.(s.data);
  },
};
const TLS_HANDLERS: Handlers = {
  ...COMMON,
  open: () => {},
  handshake: (s, success, err) => s.data.handshakeEnded(success, err),
};

function listen(request: ListenRequest, onAccept: (socket: NetSocket) => void): Promise<NetListener> {
  let local: LocalAddress | undefined;
  const handlers: Handlers = {
    ...COMMON,
    open: (native) => {
      const socket = new BunSocket(undefined, local);
      native.data = socket;
      socket.opened(native);
      onAccept(socket);
    },
  };
  try {
    const listener = runtimeNamespace<BunApi>().listen({
      ...(request.unix ? { unix: request.host } : { hostname: request.host, port: request.port }),
      ...(request.reusePort ? { reusePort: true } : {}),
      ...(request.ipv6Only ? { ipv6Only: true } : {}),
      // Bun would close a socket right after its peer's FIN; peerFin() ends it as node:net does.
      allowHalfOpen: true,
      socket: handlers,
    });
    // One IPv4 address (not the wildcard): every connection's local end is the listener's.
    if (!request.unix && isIPv4(request.host) && request.host !== "0.0.0.0") local = { address: request.host, port: listener.port };
    return Promise.resolve({
      close: () => listener.stop(false),
      address: () => request.unix ? request.host : { address: listener.hostname, port: listener.port, family: listener.hostname.includes(":") ? "IPv6" : "IPv4" },
    });
  } catch (err) {
    return Promise.reject(err);
  }
}

function connect(host: string, port: number, owner: SocketOwner): NetSocket {
  return connectTo({ hostname: host, port }, owner);
}

function connectUnix(path: string, owner: SocketOwner): NetSocket {
  return connectTo({ unix: path }, owner);
}

function connectTo(to: { hostname: string; port: number } | { unix: string }, owner: SocketOwner): NetSocket {
  const socket = new BunSocket(owner);
  runtimeNamespace<BunApi>().connect({ ...to, allowHalfOpen: true, socket: CLIENT_HANDLERS, data: socket }).catch((err: Error) => {
    if (socket.closed) return;
    socket.failed(err);
    socket.closedNow();
  });
  return socket;
}

/** Bun's native socket layer; only on Bun. */
export const bunSockets: Sockets = { name: "native", listen, connect, connectUnix };
