/** Free loopback ports for the servers a test starts. */
import { createServer } from "node:net";

/** Ports this test process has handed out: the kernel may offer a just-closed port again. */
const handedOut = new Set<number>();

/**
 * Ports are drawn below Linux's ephemeral range (32768-60999): a port the kernel hands
 * out for listen(0) is also what it hands out as the source port of outgoing
 * connections, so a daemon started a moment later could find it taken by one of the
 * suite's many client sockets.
 */
const PORT_RANGE = { low: 20000, high: 32767 };

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago and was not handed out before in this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low + 1));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
}

/** The first of two consecutive free ports, for a port range. */
export async function freePortPair(): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (handedOut.has(port + 1) || !(await bindable(port + 1))) continue;
    handedOut.add(port + 1);
    return port;
  }
}
