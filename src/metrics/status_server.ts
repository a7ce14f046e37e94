/**
 * `status_listen ADDRESS:PORT` (main context, a mailproxy addition): an HTTP
 * listener serving Prometheus metrics at /metrics and JSON at /status.
 * Bind it to loopback or a management network; it has no authentication.
 */
import http from "node:http";
import net from "node:net";
import { type MailMetrics, metrics as processMetrics } from "./mail_metrics.ts";

export interface StatusServer {
  address(): net.AddressInfo;
  close(): Promise<void>;
}

/** Split `127.0.0.1:9145`, `[::1]:9145` or `9145` into host and port. */
export function parseStatusListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(text) ?? /^()()(\d+)$/.exec(text);
  if (!m) throw new Error(`invalid status_listen address "${text}"`);
  const host = m[1] ?? (m[2] || "127.0.0.1");
  const port = Number(m[3]);
  if (port > 65535 || (host !== "*" && !net.isIP(host) && host !== "localhost")) {
    throw new Error(`invalid status_listen address "${text}"`);
  }
  return { host: host === "*" ? "0.0.0.0" : host, port };
}

export function startStatusServer(address: string, metrics: MailMetrics = processMetrics): Promise<StatusServer> {
  const { host, port } = parseStatusListen(address);
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { "Content-Type": "text/plain", Allow: "GET, HEAD" }).end("method not allowed\n");
    } else if (path === "/metrics") {
      res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4; charset=utf-8" }).end(metrics.prometheus());
    } else if (path === "/status") {
      res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify(metrics.status(), null, 1) + "\n");
    } else {
      res.writeHead(404, { "Content-Type": "text/plain" }).end("not found; try /metrics or /status\n");
    }
  });
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
