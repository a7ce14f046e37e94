/**
 * Connect to the backend the auth source named and run the protocol's login
 * dialogue over it, all under one deadline (protocols.md §6.1); beyond nginx, with TLS
 * to the backend first (implicit, or after the protocol's STARTTLS preamble).
 */
import net from "node:net";
import type { Protocol } from "../config/model.ts";
import type { BackendLogin } from "../protocols/types.ts";
import { ReplyFramer } from "./reply_framer.ts";
import { printable } from "../log/logger.ts";
import type { BackendStarttls } from "../protocols/backend_starttls.ts";
import { handshakeUpstream, type UpstreamTlsSetup } from "./tls_out.ts";
import { errnoText } from "../errno.ts";
import { type BackendWire, UnsafeValueError, type Wire } from "../wire/wire.ts";
import type { NetSocket, SocketOwner, Sockets } from "../net/socket.ts";

interface BackendTarget {
  host: string;
  port: number;
}

type BackendOutcome =
  | { type: "ok"; socket: NetSocket; toClient: string }
  /** `reason` is for the log; `reply` is the backend's reply when there was one (proxy_pass_error_message). */
  | { type: "fail"; reason: string; reply?: string };

interface BackendLoginOptions {
  target: BackendTarget;
  protocol: Protocol;
  login: BackendLogin;
  /** proxy_buffer: the largest login reply accepted. */
  replyLimit: number;
  /** `timeout`: one deadline for connect + login. */
  deadlineMs: number;
  /** PROXY protocol header to write first, in one write (before any TLS). */
  proxyHeader?: Wire<"proxy">;
  /** TLS to the backend: implicit right after connect, or after the STARTTLS preamble. */
  tls?: UpstreamTlsSetup;
  /** The protocol's STARTTLS preamble; required with `tls.mode` "starttls". */
  starttls?: BackendStarttls;
  /** The socket layer to connect with. */
  sockets: Sockets;
}

/** Format host:port, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  // the includes() spares IPv4 addresses (the common case) net.isIPv6's large regular expression
  return host.includes(":") && net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function loginToBackend(opts: BackendLoginOptions): Promise<BackendOutcome> {
  return new Promise((resolve) => new BackendLoginRun(opts, resolve));
}

/**
 * One login at a backend and, until it ends, the owner of its connection: its state in
 * fields and its socket events as methods, no closures per login.
 */
class BackendLoginRun implements SocketOwner {
  private readonly name: string;
  private framer: ReplyFramer;
  private readonly preamble?: BackendStarttls;
  private inPreamble: boolean;
  private settled = false;
  private readonly deadline: ReturnType<typeof setTimeout>;
  private readonly socket: NetSocket;

  constructor(private readonly opts: BackendLoginOptions, private readonly resolve: (outcome: BackendOutcome) => void) {
    this.name = hostPort(opts.target.host, opts.target.port);
    this.framer = new ReplyFramer(opts.protocol, opts.replyLimit);
    this.preamble = opts.tls?.mode === "starttls" ? opts.starttls : undefined;
    this.inPreamble = this.preamble !== undefined;
    this.deadline = setTimeout(loginTimedOut, opts.deadlineMs, this);
    this.socket = opts.sockets.connect(opts.target.host, opts.target.port, this);
  }

  finish(outcome: BackendOutcome): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.deadline);
    const socket = this.socket;
    socket.owner = undefined;
    if (outcome.type === "fail") socket.destroy();
    else socket.pause();
    this.resolve(outcome);
  }

  /** The only write toward the backend before the relay: encoded text only. */
  private write(data: BackendWire): void {
    this.socket.write(Buffer.from(data, "latin1"));
  }

  /** A value its wire format cannot carry ends the login instead of reaching the backend. */
  private unsafe(err: unknown): void {
    if (!(err instanceof UnsafeValueError)) throw err;
    this.finish({ type: "fail", reason: err.message });
  }

  /** TLS over the connection; then the login goes on with `greeting` (none after implicit TLS). */
  private async startTls(greeting: string | undefined): Promise<void> {
    // Whatever the backend sent behind its TLS go-ahead is dropped, never read as a reply.
    this.framer = new ReplyFramer(this.opts.protocol, this.opts.replyLimit);
    const shaken = await handshakeUpstream(this.socket, this.opts.tls!);
    if (this.settled) return;
    if (shaken.type === "fail") {
      this.finish({ type: "fail", reason: shaken.reason });
      return;
    }
    this.socket.owner = this;
    this.socket.resume();
    if (greeting !== undefined) this.loginReply(greeting);
  }

  private loginReply(text: string): void {
    let next;
    try {
      next = this.opts.login.onReply(text);
    } catch (err) {
      return this.unsafe(err);
    }
    if (next.type === "wait") return;
    if (next.type === "send") this.write(next.data);
    else if (next.type === "done") this.finish({ type: "ok", socket: this.socket, toClient: next.toClient });
    else {
      this.finish({ type: "fail", reason: this.badReply(next.reason, next.reply), reply: next.reply });
    }
  }

  private preambleReply(text: string): void {
    let next;
    try {
      next = this.preamble!.onReply(text);
    } catch (err) {
      return this.unsafe(err);
    }
    if (next.type === "send") this.write(next.data);
    else if (next.type === "upgrade") {
      this.inPreamble = false;
      this.socket.pause();
      void this.startTls(next.greeting);
    } else if (next.type === "fail") {
      this.finish({ type: "fail", reason: this.badReply(next.reason, next.reply) });
    }
  }

  /** The log's words for a reply that ends the login, as nginx writes them. */
  private badReply(reason: string, reply: string): string {
    return `${reason}: "${printable(firstLine(reply))}" while reading response from ${this.name}`;
  }

  // ---- the connection's events (SocketOwner) ----
  socketData(_s: NetSocket, chunk: Buffer): void {
    const framed = this.framer.push(chunk.toString("latin1"));
    if (framed.type === "incomplete") return;
    if (framed.type === "too-long") return this.finish({ type: "fail", reason: "upstream sent too long response line" });
    if (this.inPreamble) this.preambleReply(framed.text);
    else this.loginReply(framed.text);
  }
  socketError(_s: NetSocket, err: Error): void {
    this.finish({ type: "fail", reason: `${describeSocketError(err)} while connecting to upstream` });
  }
  socketClose(): void {
    this.finish({ type: "fail", reason: "upstream prematurely closed connection" });
  }
  socketEnd(): void {}
  socketDrain(): void {}
  socketConnect(s: NetSocket): void {
    if (this.opts.proxyHeader) s.write(Buffer.from(this.opts.proxyHeader, "latin1"));
    if (this.opts.tls?.mode === "ssl") void this.startTls(undefined);
    else s.resume();
  }
}

function loginTimedOut(run: BackendLoginRun): void {
  run.finish({ type: "fail", reason: "upstream timed out (110: Connection timed out)" });
}

function firstLine(text: string): string {
  const end = text.indexOf("\r\n");
  return end < 0 ? text : text.slice(0, end);
}

/** nginx-like wording: `connect() failed (111: Connection refused)`. */
function describeSocketError(err: Error & { code?: string }): string {
  const call = err.code === undefined ? undefined : FAILED_CALL[err.code];
  return call ? `${call} failed (${errnoText(err.code)})` : `${err.code ?? "error"}: ${err.message}`;
}

/** The system call nginx names for each error a backend connection meets. */
const FAILED_CALL: Record<string, string> = {
  ECONNREFUSED: "connect()",
  ECONNRESET: "recv()",
  ETIMEDOUT: "connect()",
  EHOSTUNREACH: "connect()",
  ENETUNREACH: "connect()",
  EPIPE: "send()",
};
