/**
 * The benchmark's "floor": the least any proxy built on the runtime's node:net can
 * cost. A bare byte pipe per listener (accept, connect to the backend, copy both
 * ways, close) with no greeting, no auth request, no login dialogue; implicit TLS
 * terminated with node:tls. The load generator's dialogues then reach the backend
 * unchanged. Not mailproxy: a yardstick for what mailproxy's own work adds.
 *
 *   bun floor_pipe.ts WORKERS CERT KEY LISTEN:BACKEND[:tls] ...
 */
import net from "node:net";
import tls from "node:tls";
import { floorArgs, startFloorWorkers } from "./floor_common.ts";

const { workers, cert, key, routes } = floorArgs();

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

for (const route of routes) {
  const onConnection = (socket: net.Socket) => pipe(socket, route.backendPort);
  const server = route.tls ? tls.createServer({ cert, key }, onConnection) : net.createServer(onConnection);
  server.listen({ host: "127.0.0.1", port: route.port, backlog: 511, reusePort: workers > 1 } as net.ListenOptions);
}
startFloorWorkers(workers);

