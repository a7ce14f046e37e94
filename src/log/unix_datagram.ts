/**
 * Datagrams to a UNIX socket (`syslog:server=unix:/dev/log`). node:dgram has no
 * unix sockets on any runtime, so this calls libc's socket(2) and sendto(2)
 * through the runtime's FFI (bun:ffi, Deno.dlopen): the one place where Bun and
 * Deno need different code for logging. Linux and glibc only (libc.so.6, the
 * Linux sockaddr_un layout).
 */
import { RUNTIME, runtimeNamespace } from "../runtime.ts";

/** A non-blocking datagram socket that sends to one path; a full receiver drops the message, as nginx's does. */
interface UnixDatagramSender {
  send(data: Buffer): void;
  close(): void;
}

interface Libc {
  socket(domain: number, type: number, protocol: number): number;
  sendto(fd: number, buf: Uint8Array, len: number, flags: number, addr: Uint8Array, addrlen: number): number;
  close(fd: number): number;
}

const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const MSG_DONTWAIT = 0x40;
/** sizeof(sun_path) on Linux. */
const SUN_PATH = 108;

type FfiType = "i32" | "u32" | "usize" | "isize" | "buffer" | "ptr";
interface DenoFfi {
  dlopen(
    lib: string,
    symbols: Record<string, { parameters: FfiType[]; result: FfiType }>,
  ): { symbols: Record<string, (...args: unknown[]) => number | bigint> };
}
interface BunFfi {
  dlopen(
    lib: string,
    symbols: Record<string, { args: FfiType[]; returns: FfiType }>,
  ): { symbols: Record<string, (...args: unknown[]) => number | bigint> };
}

const LIBC = "libc.so.6";
const SIGNATURES: Record<keyof Libc, [FfiType[], FfiType]> = {
  socket: [["i32", "i32", "i32"], "i32"],
  sendto: [["i32", "buffer", "usize", "i32", "buffer", "u32"], "isize"],
  close: [["i32"], "i32"],
};

let libc: Promise<Libc> | undefined;

async function loadLibc(): Promise<Libc> {
  if (process.platform !== "linux") throw new Error(`unix datagram sockets are supported on Linux only, not on ${process.platform}`);
  let symbols: Record<string, (...args: unknown[]) => number | bigint>;
  if (RUNTIME === "Deno") {
    symbols = runtimeNamespace<DenoFfi>().dlopen(
      LIBC,
      Object.fromEntries(Object.entries(SIGNATURES).map(([name, [parameters, result]]) => [name, { parameters, result }])),
    ).symbols;
  } else {
    // a variable specifier: Deno's type check must not try to resolve Bun's built-in module
    const bunFfi = "bun:ffi";
    const { dlopen } = (await import(bunFfi)) as BunFfi;
    const bunType = (t: FfiType): FfiType => (t === "buffer" ? "ptr" : t);
    symbols = dlopen(
      LIBC,
      Object.fromEntries(Object.entries(SIGNATURES).map(([name, [args, returns]]) => [name, { args: args.map(bunType), returns }])),
    ).symbols;
  }
  return {
    socket: (d, t, p) => Number(symbols.socket!(d, t, p)),
    sendto: (fd, buf, len, flags, addr, addrlen) => Number(symbols.sendto!(fd, buf, len, flags, addr, addrlen)),
    close: (fd) => Number(symbols.close!(fd)),
  };
}

/** struct sockaddr_un for `path`: family (host order), then the NUL-terminated path. */
function socketAddress(path: string): Uint8Array {
  const bytes = Buffer.from(path);
  if (bytes.length >= SUN_PATH) throw new Error(`unix socket path "${path}" is too long`);
  const addr = new Uint8Array(2 + bytes.length + 1);
  new Uint16Array(addr.buffer, 0, 1)[0] = AF_UNIX;
  addr.set(bytes, 2);
  return addr;
}

/** Open a datagram socket for `path`; rejects where the runtime or platform cannot. */
export async function openUnixDatagram(path: string): Promise<UnixDatagramSender> {
  const c = await (libc ??= loadLibc());
  const addr = socketAddress(path);
  const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
  let open = true;
  return {
    send(data) {
      if (open) c.sendto(fd, data, data.length, MSG_DONTWAIT, addr, addr.length);
    },
    close() {
      if (open) c.close(fd);
      open = false;
    },
  };
}
