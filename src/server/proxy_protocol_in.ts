/**
 * PROXY protocol header sent by a load balancer in front of mailproxy
 * (protocols.md §1.2), v1 text or v2 binary, autodetected. Pure: feed it the
 * bytes received so far; it says "need more", "here is the header and how many
 * bytes it took", or "broken".
 *
 * Deviation from nginx, on purpose: nginx judges the first read only, so a header
 * split over two TCP segments is "broken". Here a split header is waited for
 * (bounded by `timeout` and by MAX_HEADER), which a slow network deserves.
 */
import net from "node:net";
import type { NetSocket } from "../net/socket.ts";
import type { ProxyProtocolInfo } from "../auth/types.ts";

/** nginx inspects at most this much (protocols.md §1.2: up to 4 KiB). */
export const MAX_HEADER = 4096;
/** Longest legal v1 line, CRLF included (the PROXY protocol spec). */
const V1_MAX = 107;

export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from("PROXY ", "latin1");

export type ProxyHeaderResult =
  | { type: "more" }
  /** `info` is absent for `PROXY UNKNOWN`, v2 LOCAL and non-TCP v2 families. */
  | { type: "ok"; consumed: number; info?: ProxyProtocolInfo; version: 1 | 2 }
  /** `data` is what the log line quotes: `broken header: "<data>"`. */
  | { type: "broken"; data: string };

/** Look at the bytes received so far (starting at the first byte of the connection). */
export function parseProxyHeader(buf: Buffer): ProxyHeaderResult {
  if (buf.length === 0) return { type: "more" };
  if (buf[0] === 0x0d) return parseV2(buf);
  return parseV1(buf);
}

function broken(buf: Buffer, end = buf.length): ProxyHeaderResult {
  return { type: "broken", data: buf.subarray(0, Math.min(end, V1_MAX)).toString("latin1") };
}

/** True while `buf` is still a prefix of `expected`. */
function prefixOf(buf: Buffer, expected: Buffer): boolean {
  const n = Math.min(buf.length, expected.length);
  return buf.subarray(0, n).equals(expected.subarray(0, n));
}

function parseV1(buf: Buffer): ProxyHeaderResult {
  if (!prefixOf(buf, V1_PREFIX)) return broken(buf);
  const lf = buf.indexOf(0x0a);
  if (lf < 0) return buf.length >= V1_MAX ? broken(buf) : { type: "more" };
  if (lf + 1 > V1_MAX) return broken(buf, lf + 1);
  let line = buf.subarray(0, lf).toString("latin1");
  if (line.endsWith("\r")) line = line.slice(0, -1);
  const fail = broken(buf, lf + 1);
  const fields = line.split(" ");
  if (fields[1] === "UNKNOWN") return { type: "ok", consumed: lf + 1, version: 1 };
  if (fields.length !== 6 || (fields[1] !== "TCP4" && fields[1] !== "TCP6")) return fail;
  const [, family, src, dst, sport, dport] = fields as [string, string, string, string, string, string];
  const isFamily = family === "TCP4" ? net.isIPv4 : net.isIPv6;
  // A zone ID (`fe80::1%eth0`) is no address on the wire: nginx refuses it too.
  if (!isFamily(src) || !isFamily(dst) || src.includes("%") || dst.includes("%")) return fail;
  const port = (p: string) => (/^\d{1,5}$/.test(p) && Number(p) <= 65535 ? Number(p) : -1);
  const srcPort = port(sport);
  const dstPort = port(dport);
  if (srcPort < 0 || dstPort < 0) return fail;
  return {
    type: "ok",
    consumed: lf + 1,
    version: 1,
    info: { addr: src, port: srcPort, serverAddr: dst, serverPort: dstPort },
  };
}

function parseV2(buf: Buffer): ProxyHeaderResult {
  if (!prefixOf(buf, V2_SIGNATURE)) return broken(buf);
  if (buf.length < 16) return { type: "more" };
  const verCmd = buf[12]!;
  const family = buf[13]!;
  const len = buf.readUInt16BE(14);
  const total = 16 + len;
  if (verCmd >> 4 !== 2 || (verCmd & 0x0f) > 1 || total > MAX_HEADER) return broken(buf, 16);
  if (buf.length < total) return { type: "more" };
  const body = buf.subarray(16, total);
  const ok = (info?: ProxyProtocolInfo): ProxyHeaderResult => ({ type: "ok", consumed: total, version: 2, ...(info ? { info } : {}) });
  if ((verCmd & 0x0f) === 0) return ok(); // LOCAL: health check from the balancer itself
  // Only TCP over IPv4/IPv6 carries an address we can use; other families are accepted without one.
  if (family === 0x11) {
    if (body.length < 12) return broken(buf, total);
    return ok({
      addr: ipv4(body.subarray(0, 4)),
      serverAddr: ipv4(body.subarray(4, 8)),
      port: body.readUInt16BE(8),
      serverPort: body.readUInt16BE(10),
    });
  }
  if (family === 0x21) {
    if (body.length < 36) return broken(buf, total);
    return ok({
      addr: ipv6(body.subarray(0, 16)),
      serverAddr: ipv6(body.subarray(16, 32)),
      port: body.readUInt16BE(32),
      serverPort: body.readUInt16BE(34),
    });
  }
  return ok();
}

function ipv4(b: Buffer): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

/** Canonical text form (RFC 5952), e.g. `2001:db8::1`, `::ffff:192.0.2.1`. */
function ipv6(b: Buffer): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i));
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  }
  // longest run of zero groups (length ≥ 2) becomes "::"
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestLen < 2) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

// ---- socket side -------------------------------------------------------------


type ReceivedHeader =
  | { type: "ok"; info?: ProxyProtocolInfo; rest: Buffer }
  | { type: "broken"; data: string }
  | { type: "closed" }
  | { type: "timeout" };

/**
 * Read the header from a paused socket within `timeoutMs`. The socket is left
 * paused with its owner back; `rest` holds the bytes that arrived behind the header.
 */
export function receiveProxyHeader(socket: NetSocket, timeoutMs: number): Promise<ReceivedHeader> {
  const owner = socket.owner;
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const finish = (r: ReceivedHeader) => {
      clearTimeout(timer);
      socket.pause();
      socket.owner = owner;
      resolve(r);
    };
    const timer = setTimeout(() => finish({ type: "timeout" }), timeoutMs);
    // Until the header is read, this reader owns the socket (once per connection, short-lived).
    socket.owner = {
      socketData(_s, chunk) {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        const r = parseProxyHeader(buf.subarray(0, MAX_HEADER));
        if (r.type === "more" && buf.length < MAX_HEADER) return;
        if (r.type === "ok") finish({ type: "ok", info: r.info, rest: buf.subarray(r.consumed) });
        else finish({ type: "broken", data: r.type === "broken" ? r.data : buf.subarray(0, V1_MAX).toString("latin1") });
      },
      socketClose(s) {
        finish({ type: "closed" });
        owner?.socketClose(s);
      },
      socketDrain() {},
      socketEnd() {},
      socketError: (s, err) => owner?.socketError(s, err),
    };
    socket.resume();
  });
}
