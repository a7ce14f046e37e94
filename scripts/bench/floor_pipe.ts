/**
 * The benchmark's "floor": the least any proxy built on the runtime's node:net can
 * cost. A bare byte pipe per listener (accept, connect to the backend, copy both
 * ways, close) with no greeting, no auth request, no login dialogue; implicit TLS
 * terminated with node:tls. The load generator's dialogues then reach the backend
 * unchanged. Not mailproxy: a yardstick for what mailproxy's own work adds.
 *
 *   bun floor_pipe.ts WORKERS CERT KEY LISTEN:BACKEND[:tls] ...
 */
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";

const [workersArg, certFile, keyFile, ...routes] = process.argv.slice(2);
const workers = Number(workersArg);

function pipe(client: net.Socket, backendPort: number): void {
  client.pause();
  const backend = net.connect(backendPort, "127.0.0.1", () => client.resume());
  client.on("data", (d) => backend.write(d) || client.pause());
  backend.on("data", (d) => client.write(d) || backend.pause());
  client.on("drain", () => backend.resume());
  backend.on("drain", () => client.resume());
  client.on("end", () => backend.end());
  backend.on("end", () => client.end());
  client.on("error", () => backend.destroy());
  backend.on("error", () => client.destroy());
  client.on("close", () => backend.destroy());
  backend.on("close", () => client.destroy());
}

const context = { cert: fs.readFileSync(certFile!), key: fs.readFileSync(keyFile!) };
for (const route of routes) {
  const [listen, backend, mode] = route.split(":");
  const onConnection = (socket: net.Socket) => pipe(socket, Number(backend));
  const server = mode === "tls" ? tls.createServer(context, onConnection) : net.createServer(onConnection);
  server.listen({ host: "127.0.0.1", port: Number(listen), backlog: 511, reusePort: workers > 1 } as net.ListenOptions);
}

// More workers: the same script again, sharing the ports with SO_REUSEPORT.
const children: ChildProcess[] = [];
if (workers > 1 && !process.env.FLOOR_WORKER) {
  for (let i = 1; i < workers; i++) {
    children.push(spawn(process.execPath, process.argv.slice(1), { env: { ...process.env, FLOOR_WORKER: "1" }, stdio: "inherit" }));
  }
}
// Exit only once the workers have: the next proxy under test binds the same ports right after.
process.on("SIGTERM", () => {
  let running = children.length;
  if (running === 0) process.exit(0);
  for (const child of children) {
    child.once("exit", () => --running === 0 && process.exit(0));
    child.kill("SIGTERM");
  }
});
