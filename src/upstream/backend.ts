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
  return new Promise((resolve) => {
    const name = hostPort(opts.target.host, opts.target.port);
    let framer = new ReplyFramer(opts.protocol, opts.replyLimit);
    const preamble = opts.tls?.mode === "starttls" ? opts.starttls : undefined;
    let inPreamble = preamble !== undefined;
    let settled = false;

    const finish = (outcome: BackendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.owner = undefined;
      if (outcome.type === "fail") socket.destroy();
      else socket.pause();
      resolve(outcome);
    };
    /** The only write toward the backend before the relay: encoded text only. */
    const write = (data: BackendWire) => socket.write(Buffer.from(data, "latin1"));
    /** A login step; a value its wire format cannot carry ends the login instead of reaching the backend. */
    const step = <T>(next: () => T): T | undefined => {
      try {
        return next();
      } catch (err) {
        if (!(err instanceof UnsafeValueError)) throw err;
        finish({ type: "fail", reason: err.message });
        return undefined;
      }
    };

    /** TLS over the connection; then `next` runs on it. */
    const startTls = async (next: () => void) => {
      // Whatever the backend sent behind its TLS go-ahead is dropped, never read as a reply.
      framer = new ReplyFramer(opts.protocol, opts.replyLimit);
      const shaken = await handshakeUpstream(socket, opts.tls!);
      if (settled) return;
      if (shaken.type === "fail") {
        finish({ type: "fail", reason: shaken.reason });
        return;
      }
      socket.owner = owner;
      socket.resume();
      next();
    };

    const loginReply = (text: string) => {
      const next = step(() => opts.login.onReply(text));
      if (next === undefined || next.type === "wait") return;
      if (next.type === "send") write(next.data);
      else if (next.type === "done") finish({ type: "ok", socket, toClient: next.toClient });
      else {
        finish({
          type: "fail",
          reason: `${next.reason}: "${printable(firstLine(next.reply))}" while reading response from ${name}`,
          reply: next.reply,
        });
      }
    };

    const onData = (chunk: Buffer) => {
      const framed = framer.push(chunk.toString("latin1"));
      if (framed.type === "incomplete") return;
      if (framed.type === "too-long") {
        finish({ type: "fail", reason: "upstream sent too long response line" });
        return;
      }
      if (!inPreamble) return loginReply(framed.text);
      const next = step(() => preamble!.onReply(framed.text));
      if (next === undefined) return;
      if (next.type === "send") write(next.data);
      else if (next.type === "upgrade") {
        inPreamble = false;
        socket.pause();
        void startTls(() => loginReply(next.greeting));
      } else if (next.type === "fail") {
        finish({
          type: "fail",
          reason: `${next.reason}: "${printable(firstLine(next.reply))}" while reading response from ${name}`,
        });
      }
    };

    // The login's owner of the connection: one per login, gone with it.
    const owner: SocketOwner = {
      socketData: (_s, chunk) => onData(chunk),
      socketError: (_s, err) => finish({ type: "fail", reason: `${describeSocketError(err)} while connecting to upstream` }),
      socketClose: () => finish({ type: "fail", reason: "upstream prematurely closed connection" }),
      socketEnd() {},
      socketDrain() {},
      socketConnect: (s) => {
        if (opts.proxyHeader) s.write(Buffer.from(opts.proxyHeader, "latin1"));
        if (opts.tls?.mode === "ssl") void startTls(() => {});
        else s.resume();
      },
    };

    const deadline = setTimeout(
      () => finish({ type: "fail", reason: "upstream timed out (110: Connection timed out)" }),
      opts.deadlineMs,
    );
    const socket: NetSocket = opts.sockets.connect(opts.target.host, opts.target.port, owner);
  });
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
