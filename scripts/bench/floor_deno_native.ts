/**
 * The benchmark's Deno native floor: the same bare byte pipe as floor_pipe.ts, on
 * Deno's own socket API (Deno.listen / Deno.listenTls / Deno.connect) instead of
 * node:net: whether a third socket adapter (Deno native) could beat Deno's node:net.
 * Deno only (workers need `--unstable-net` for reusePort); a yardstick.
 *
 *   deno run -A --unstable-net floor_deno_native.ts WORKERS CERT KEY LISTEN:BACKEND[:tls] ...
 */
import { floorArgs, startFloorWorkers } from "./floor_common.ts";

// Only @types/node here: the few calls of Deno's own API used, typed by hand.
interface DenoConn {
  read(into: Uint8Array): Promise<number | null>;
  write(chunk: Uint8Array): Promise<number>;
  closeWrite(): Promise<void>;
  close(): void;
}
interface DenoListener extends AsyncIterable<DenoConn> {}
declare const Deno: {
  listen(options: { hostname: string; port: number; reusePort?: boolean }): DenoListener;
  listenTls(options: { hostname: string; port: number; reusePort?: boolean; cert: string; key: string }): DenoListener;
  connect(options: { hostname: string; port: number }): Promise<DenoConn>;
};

// A pending read() pins its buffer for as long as the peer is silent: an idle session would
// hold two 64 KiB buffers. Start small and grow while reads fill the buffer (bulk transfer).
const FIRST_READ = 2 * 1024;
const MAX_READ = 64 * 1024;

/** Copy `from` to `to` until EOF, then half-close `to`; each write waits (back-pressure). */
async function copy(from: DenoConn, to: DenoConn): Promise<void> {
  let buf = new Uint8Array(FIRST_READ);
  try {
    for (;;) {
      const n = await from.read(buf);
      if (n === null) break;
      await write(to, buf, n);
      if (n === buf.length && buf.length < MAX_READ) buf = new Uint8Array(buf.length * 4);
    }
    await to.closeWrite();
  } catch {
    // a reset on either side ends this direction; close() below ends the other
  }
}

async function write(to: DenoConn, buf: Uint8Array, n: number): Promise<void> {
  for (let off = 0; off < n; ) off += await to.write(buf.subarray(off, n));
}

async function pipe(client: DenoConn, backendPort: number): Promise<void> {
  let backend: DenoConn;
  try {
    backend = await Deno.connect({ hostname: "127.0.0.1", port: backendPort });
  } catch {
    client.close();
    return;
  }
  await Promise.all([copy(client, backend), copy(backend, client)]);
  for (const conn of [client, backend]) {
    try {
      conn.close();
    } catch {
      // already closed
    }
  }
}

async function serve(listener: DenoListener, backendPort: number): Promise<void> {
  for await (const conn of listener) void pipe(conn, backendPort);
}

const { workers, cert, key, routes } = floorArgs();
for (const route of routes) {
  const at = { hostname: "127.0.0.1", port: route.port, ...(workers > 1 ? { reusePort: true } : {}) };
  void serve(route.tls ? Deno.listenTls({ ...at, cert, key }) : Deno.listen(at), route.backendPort);
}
startFloorWorkers(workers);
