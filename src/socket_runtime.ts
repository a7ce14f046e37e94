/**
 * What differs per runtime at the socket layer, in one place.
 *
 * The socket default that differs per runtime (seen with strace): Bun sets
 * TCP_NODELAY on every TCP socket it accepts or connects, Deno's node:net leaves
 * Nagle's algorithm on. nginx's mail proxy sends without Nagle's delay, so we ask
 * for it where the runtime does not; on Bun a second setsockopt per socket is waste.
 */
const RUNTIME_SETS_NODELAY = "Bun" in globalThis;

export function noDelay(socket: { setNoDelay?: (noDelay?: boolean) => unknown }): void {
  if (!RUNTIME_SETS_NODELAY) socket.setNoDelay?.(true);
}

/**
 * Whether a TLS server socket can wrap a plain stream (a PROXY header's wrapper that
 * replays the ClientHello which came with it). Deno's TLSSocket needs a socket handle.
 */
export const TLS_WRAPS_STREAMS = !("Deno" in globalThis);
