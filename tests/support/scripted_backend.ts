/**
 * A backend that does exactly what the test says, for misbehaviour on purpose:
 * the handler gets each connection and a log of what arrived.
 */
import net from "node:net";

export interface ScriptedConnection {
  socket: net.Socket;
  /** Everything received so far (binary string). */
  received(): string;
  /** Resolves when `received()` contains `text`. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  send(text: string): void;
}

export interface ScriptedBackend {
  port: number;
  connections: ScriptedConnection[];
  close(): Promise<void>;
}

export function startScriptedBackend(handler: (c: ScriptedConnection) => void): Promise<ScriptedBackend> {
  const connections: ScriptedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    let data = "";
    const waiters: Array<() => void> = [];
    socket.on("data", (d: Buffer) => {
      data += d.toString("latin1");
      for (const w of waiters.splice(0)) w();
    });
    const conn: ScriptedConnection = {
      socket,
      received: () => data,
      send: (text) => socket.write(Buffer.from(text, "latin1")),
      waitFor: (text, timeoutMs = 10_000) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`backend never received ${JSON.stringify(text)}; got ${JSON.stringify(data)}`)), timeoutMs);
          const check = () => {
            if (data.includes(text)) {
              clearTimeout(timer);
              resolve();
            } else waiters.push(check);
          };
          check();
        }),
    };
    connections.push(conn);
    handler(conn);
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        connections,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      })
    )
  );
}
