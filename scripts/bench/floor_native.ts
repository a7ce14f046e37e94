/**
 * The benchmark's other floor: the same bare byte pipe as floor_pipe.ts, on Bun's
 * own socket API (Bun.listen / Bun.connect) instead of node:net: what a proxy
 * could cost at the least if it left node:net on Bun. Bun only; a yardstick.
 *
 *   bun floor_native.ts WORKERS CERT KEY LISTEN:BACKEND[:tls] ...
 */
import { floorArgs, startFloorWorkers } from "./floor_common.ts";

// No type package for Bun's own API here (only @types/node): the few calls used, typed by hand.
interface NativeSocket {
  data: Peer;
  write(chunk: Uint8Array): number;
  end(): void;
}
type Handlers = Record<"open" | "close" | "error" | "drain", (s: NativeSocket) => void> & {
  data(s: NativeSocket, chunk: Uint8Array): void;
};
declare const Bun: {
  listen(options: { hostname: string; port: number; reusePort: boolean; tls?: object; socket: Handlers }): unknown;
  connect(options: { hostname: string; port: number; socket: Handlers }): Promise<unknown>;
};
type Peer = { peer?: NativeSocket; early: Uint8Array[]; queued: Uint8Array[] };

/** Bun's write() may take part of a chunk: the rest waits for `drain` (no back-pressure: a yardstick). */
function send(to: NativeSocket, chunk: Uint8Array): void {
  if (to.data.queued.length > 0) {
    to.data.queued.push(new Uint8Array(chunk));
    return;
  }
  const n = to.write(chunk);
  if (n < chunk.length) to.data.queued.push(new Uint8Array(chunk.subarray(Math.max(n, 0))));
}
function flush(s: NativeSocket): void {
  const q = s.data.queued;
  while (q.length > 0) {
    const n = s.write(q[0]!);
    if (n < q[0]!.length) {
      q[0] = q[0]!.subarray(Math.max(n, 0));
      return;
    }
    q.shift();
  }
}

const { workers, cert, key, routes } = floorArgs();

function listen(port: number, backendPort: number, withTls: boolean): void {
  Bun.listen({
    hostname: "127.0.0.1",
    port,
    reusePort: workers > 1,
    ...(withTls ? { tls: { cert, key } } : {}),
    socket: {
      open(client) {
        client.data = { early: [], queued: [] };
        Bun.connect({
          hostname: "127.0.0.1",
          port: backendPort,
          socket: {
            open(backend) {
              backend.data = { peer: client, early: [], queued: [] };
              client.data.peer = backend;
              for (const chunk of client.data.early) send(backend, chunk);
              client.data.early = [];
            },
            data(backend, chunk) {
              if (backend.data.peer) send(backend.data.peer, chunk);
            },
            drain: flush,
            close(backend) {
              backend.data.peer?.end();
            },
            error(backend) {
              backend.data.peer?.end();
            },
          },
        }).catch(() => client.end());
      },
      drain: flush,
      data(client, chunk) {
        if (client.data.peer) send(client.data.peer, chunk);
        else client.data.early.push(new Uint8Array(chunk));
      },
      close(client) {
        client.data.peer?.end();
      },
      error(client) {
        client.data.peer?.end();
      },
    },
  });
}

for (const route of routes) listen(route.port, route.backendPort, route.tls);
startFloorWorkers(workers);

