/**
 * `status_listen ADDRESS:PORT` (main context, a mailproxy addition): an HTTP
 * listener serving Prometheus metrics at /metrics and JSON at /status.
 * Bind it to loopback or a management network; it has no authentication.
 */
import http from "node:http";
import net from "node:net";
import { type MailMetrics, metrics as processMetrics } from "./mail_metrics.ts";
import { upstreamMetrics } from "./upstream_metrics.ts";
import type { Pools, PoolStatus } from "../upstream/pools.ts";
import type { Logger } from "../log/logger.ts";

/**
 * The pool operations (docs/director.md): GET /upstreams, POST /upstreams/NAME/SERVER/drain,
 * POST /users/LOGIN/move?to=SERVER. Only the peers `allowed` may use them; each use is logged.
 */
export interface PoolOperations {
  /** status_allow: whether this peer (an IP literal) may use them. */
  allowed(peer: string): boolean;
  upstreams(): Promise<PoolStatus[]>;
  drain(pool: string, server: string): boolean;
  /** Undefined: no pool has `to`. */
  move(login: string, to: string): Promise<{ pool: string; kicked: number } | undefined>;
  log(message: string): void;
}

/**
 * The operations on a process's own pools (single process, or the master of workers),
 * logged at notice level; `synced` resolves once every report of a session is in (the
 * master asks its workers for theirs).
 */
export function poolOperations(
  pools: Pools,
  allowed: (peer: string) => boolean,
  logger: Logger,
  synced: () => Promise<void> = () => Promise.resolve(),
): PoolOperations {
  return {
    allowed,
    upstreams: () => synced().then(() => pools.status()),
    drain: (pool, server) => pools.drain(pool, server),
    move: (login, to) => synced().then(() => pools.move(login, to)),
    log: (message) => logger.notice(message),
  };
}

/** Who may use the pool operations without `status_allow`. */
export const STATUS_ALLOW_DEFAULT: readonly string[] = ["127.0.0.0/8", "::1"];

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body, null, 1) + "\n");
}

/** Answers a pool operation; false when the path is none of them. */
export function poolRoute(req: http.IncomingMessage, res: http.ServerResponse, ops: PoolOperations): boolean {
  const url = new URL(req.url ?? "/", "http://status");
  const parts = url.pathname.split("/").slice(1).map((p) => decodeURIComponent(p));
  const drain = req.method === "POST" && parts.length === 4 && parts[0] === "upstreams" && parts[3] === "drain";
  const move = req.method === "POST" && parts.length === 3 && parts[0] === "users" && parts[2] === "move";
  const list = (req.method === "GET" || req.method === "HEAD") && url.pathname === "/upstreams";
  if (!drain && !move && !list) return false;
  const peer = req.socket.remoteAddress;
  if (!ops.allowed(peer ?? "")) {
    ops.log(`status: ${req.method} ${url.pathname} from ${peer} refused, not in status_allow`);
    json(res, 403, { error: "forbidden" });
    return true;
  }
  if (list) void ops.upstreams().then((all) => json(res, 200, all));
  else if (drain) {
    const [, pool, server] = parts as [string, string, string];
    const ok = ops.drain(pool, server);
    ops.log(`status: drain of upstream "${pool}" server ${server} from ${peer}: ${ok ? "draining" : "no such server"}`);
    json(res, ok ? 200 : 404, ok ? { pool, server, state: "draining" } : { error: "no such upstream server" });
  } else {
    const login = parts[1]!;
    const to = url.searchParams.get("to") ?? "";
    void ops.move(login, to).then((moved) => {
      ops.log(`status: move of user "${login}" to ${to} from ${peer}: ${moved ? `done, ${moved.kicked} session(s) closed` : "no such server"}`);
      json(res, moved ? 200 : 404, moved ? { login, to, ...moved } : { error: "no upstream has that server" });
    });
  }
  return true;
}

export interface StatusServer {
  address(): net.AddressInfo;
  close(): Promise<void>;
}

/** Split `127.0.0.1:9145`, `[::1]:9145` or `9145` into host and port. */
function parseStatusListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid status_listen address "${text}"`);
  const host = m[1] ?? (m[2] || "127.0.0.1");
  const port = Number(m[3]);
  if (port > 65535 || (host !== "*" && !net.isIP(host) && host !== "localhost")) {
    throw new Error(`invalid status_listen address "${text}"`);
  }
  return { host: host === "*" ? "0.0.0.0" : host, port };
}

export function startStatusServer(address: string, metrics: MailMetrics = processMetrics, pools?: PoolOperations): Promise<StatusServer> {
  const server = http.createServer(async (req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (pools && poolRoute(req, res, pools)) return;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "Content-Type": "text/plain", Allow: "GET, HEAD" }).end("method not allowed\n");
    } else if (path === "/metrics") {
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }).end(metrics.prometheus() + (pools ? upstreamMetrics(await pools.upstreams()) : ""));
    } else if (path === "/status") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(metrics.status(), null, 1) + "\n");
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found; try /metrics or /status\n");
    }
  });
  return listenStatus(server, address);
}

/** Start `server` on a `status_listen` address; the handle closes it with its open connections. */
export function listenStatus(server: http.Server, address: string): Promise<StatusServer> {
  const { host, port } = parseStatusListen(address);
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.removeListener("error", reject);
      resolve({
        address: () => server.address() as net.AddressInfo,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
  });
}
