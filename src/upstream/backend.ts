/**
 * Connect to the backend the auth source named and run the protocol's login
 * dialogue over it, all under one deadline (protocols.md §6.1).
 */
import net from "node:net";
import type { Protocol } from "../config/model.ts";
import type { BackendLogin } from "../protocols/types.ts";
import { ReplyFramer } from "./reply_framer.ts";
import { printable } from "../log/logger.ts";

export interface BackendTarget {
  host: string;
  port: number;
}

export type BackendOutcome =
  | { type: "ok"; socket: net.Socket; toClient: string }
  /** `reason` is for the log; `reply` is the backend's reply when there was one (proxy_pass_error_message). */
  | { type: "fail"; reason: string; reply?: string };

export interface BackendLoginOptions {
  target: BackendTarget;
  protocol: Protocol;
  login: BackendLogin;
  /** proxy_buffer: the largest login reply accepted. */
  replyLimit: number;
  /** `timeout`: one deadline for connect + login. */
  deadlineMs: number;
  /** PROXY protocol header to write first, in one write. */
  proxyHeader?: string;
}

/** Format host:port, bracketing IPv6 literals. */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

export function loginToBackend(opts: BackendLoginOptions): Promise<BackendOutcome> {
  return new Promise((resolve) => {
    const name = hostPort(opts.target.host, opts.target.port);
    const socket = net.connect({ host: opts.target.host, port: opts.target.port });
    const framer = new ReplyFramer(opts.protocol, opts.replyLimit);
    let settled = false;

    const finish = (outcome: BackendOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      socket.removeAllListeners("data");
      socket.removeAllListeners("connect");
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
      if (outcome.type === "fail") socket.destroy();
      else socket.pause();
      resolve(outcome);
    };
    const onError = (err: NodeJS.ErrnoException) =>
      finish({ type: "fail", reason: `${describeSocketError(err)} while connecting to upstream` });
    const onClose = () => finish({ type: "fail", reason: "upstream prematurely closed connection" });

    const deadline = setTimeout(
      () => finish({ type: "fail", reason: "upstream timed out (110: Connection timed out)" }),
      opts.deadlineMs,
    );

    socket.setNoDelay(true);
    socket.on("error", onError);
    socket.on("close", onClose);
    socket.on("connect", () => {
      if (opts.proxyHeader) socket.write(Buffer.from(opts.proxyHeader, "latin1"));
    });
    socket.on("data", (chunk: Buffer) => {
      const framed = framer.push(chunk.toString("latin1"));
      if (framed.type === "incomplete") return;
      if (framed.type === "too-long") {
        finish({ type: "fail", reason: "upstream sent too long response line" });
        return;
      }
      const step = opts.login.onReply(framed.text);
      if (step.type === "send") {
        if (step.data) socket.write(Buffer.from(step.data, "latin1"));
      }
      else if (step.type === "done") finish({ type: "ok", socket, toClient: step.toClient });
      else {
        finish({
          type: "fail",
          reason: `${step.reason}: "${printable(firstLine(step.reply))}" while reading response from ${name}`,
          reply: step.reply,
        });
      }
    });
  });
}

function firstLine(text: string): string {
  const end = text.indexOf("\r\n");
  return end < 0 ? text : text.slice(0, end);
}

/** nginx-like wording: `connect() failed (111: Connection refused)`. */
export function describeSocketError(err: NodeJS.ErrnoException): string {
  const codes: Record<string, string> = {
    ECONNREFUSED: "connect() failed (111: Connection refused)",
    ECONNRESET: "recv() failed (104: Connection reset by peer)",
    ETIMEDOUT: "connect() failed (110: Connection timed out)",
    EHOSTUNREACH: "connect() failed (113: No route to host)",
    ENETUNREACH: "connect() failed (101: Network is unreachable)",
    EPIPE: "send() failed (32: Broken pipe)",
  };
  return (err.code && codes[err.code]) ?? `${err.code ?? "error"}: ${err.message}`;
}
