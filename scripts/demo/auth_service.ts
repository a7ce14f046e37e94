/**
 * A demo auth_http service: checks plain passwords from a table and sends every
 * user to one backend. It speaks the same protocol as any nginx auth service.
 */
import http from "node:http";
import type net from "node:net";

export interface DemoAuthOptions {
  users: Record<string, string>;
  backend: { host: string; port: number };
}

/** %XX decoding as auth-http.md §8 asks (a `+` stays a plus). */
export function percentDecode(value: string): string {
  return Buffer.from(
    value.replace(/%([0-9A-Fa-f]{2})/g, (_, h) => String.fromCharCode(parseInt(h, 16))),
    "latin1",
  ).toString("latin1");
}

export function startDemoAuth(opts: DemoAuthOptions, host = "127.0.0.1", port = 0): Promise<{ port: number; close(): void }> {
  const server = http.createServer((req, res) => {
    const user = percentDecode(String(req.headers["auth-user"] ?? ""));
    const pass = percentDecode(String(req.headers["auth-pass"] ?? ""));
    const method = String(req.headers["auth-method"] ?? "");
    if (method === "plain" && opts.users[user] !== undefined && opts.users[user] === pass) {
      res.setHeader("Auth-Status", "OK");
      res.setHeader("Auth-Server", opts.backend.host);
      res.setHeader("Auth-Port", String(opts.backend.port));
    } else {
      res.setHeader("Auth-Status", "Invalid login or password");
      res.setHeader("Auth-Wait", "1");
    }
    res.end();
  });
  return new Promise((resolve) => {
    server.listen(port, host, () =>
      resolve({ port: (server.address() as net.AddressInfo).port, close: () => server.close() })
    );
  });
}
