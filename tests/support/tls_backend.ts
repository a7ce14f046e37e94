/**
 * A POP3 backend that speaks TLS: implicit (TLS from the first byte) or STLS. It
 * records what it saw after TLS and the SNI name the proxy sent, and answers every
 * login with success.
 */
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";

export interface TlsPop3Backend {
  port: number;
  /** Lines received over TLS, in order, per connection. */
  sessions: Array<{ lines: string[]; serverName: string | false; plainLines: string[] }>;
  close(): Promise<void>;
}

export function startTlsPop3Backend(certFile: string, keyFile: string, mode: "ssl" | "stls"): Promise<TlsPop3Backend> {
  const context = tls.createSecureContext({ cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) });
  const sessions: TlsPop3Backend["sessions"] = [];
  const sockets = new Set<net.Socket>();

  /** Run the POP3 dialogue on `socket`; `onStls` upgrades (STLS mode, before TLS only). */
  function dialogue(socket: net.Socket, record: string[], onStls?: () => void): void {
    let pending = "";
    const onData = (d: Buffer) => {
      pending += d.toString("latin1");
      for (let i = pending.indexOf("\r\n"); i >= 0; i = pending.indexOf("\r\n")) {
        const line = pending.slice(0, i);
        pending = pending.slice(i + 2);
        record.push(line);
        if (line === "STLS" && onStls) {
          socket.removeListener("data", onData);
          socket.write("+OK Begin TLS negotiation\r\n", () => onStls());
          return;
        }
        socket.write(line.startsWith("PASS") ? "+OK backend logged in\r\n" : "+OK\r\n");
      }
    };
    socket.on("data", onData);
  }

  function secure(raw: net.Socket, session: TlsPop3Backend["sessions"][number], greet: boolean): void {
    const s = new tls.TLSSocket(raw, { isServer: true, secureContext: context });
    s.on("error", () => {});
    s.once("secure", () => {
      session.serverName = (s as unknown as { servername?: string | false }).servername ?? false;
      if (greet) s.write("+OK TLS backend ready\r\n");
      dialogue(s, session.lines);
    });
  }

  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on("close", () => sockets.delete(raw));
    raw.on("error", () => {});
    const session = { lines: [] as string[], serverName: false as string | false, plainLines: [] as string[] };
    sessions.push(session);
    if (mode === "ssl") return secure(raw, session, true);
    raw.write("+OK plain backend ready\r\n");
    dialogue(raw, session.plainLines, () => secure(raw, session, false));
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        sessions,
        close: () =>
          new Promise((done) => {
            for (const s of sockets) s.destroy();
            server.close(() => done());
          }),
      }));
  });
}
