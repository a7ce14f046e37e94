/**
 * A minimal DNS stub client over node:dgram for the SMTP client host lookup
 * (protocols.md §5.1). Like nginx's resolver it asks only the configured name
 * servers: the runtimes' node:dns does not (Bun's `reverse()` uses the system's
 * getnameinfo; Deno answers PTR queries for loopback and /etc/hosts addresses
 * itself), so the same answer would differ by runtime.
 */
import dgram from "node:dgram";
import crypto from "node:crypto";
import net from "node:net";
import { lookupAll } from "../resolve.ts";
import { splitHostPort } from "../config/values/address.ts";

export const DNS_A = 1;
export const DNS_PTR = 12;
export const DNS_AAAA = 28;

export type DnsOutcome =
  /**
   * Records of the asked type: names for PTR, addresses for A/AAAA (IPv6 fully expanded,
   * see expandIpv6); `ttl`: the smallest of their TTLs, seconds.
   */
  | { type: "ok"; records: string[]; ttl: number }
  /** NXDOMAIN, or an answer without a record of the asked type (for PTR: without any record). */
  | { type: "not-found" }
  /** Timeout, SERVFAIL, REFUSED, a truncated or malformed answer, a socket error, a PTR answer of other types. */
  | { type: "failed"; reason: string };

interface NameServer {
  host: string;
  port: number;
}

/** `resolver` addresses as written (`host[:port]`, `[v6]:port`) → name servers, port 53 by default. */
function nameServers(addresses: readonly string[]): NameServer[] {
  return addresses.map((text) => {
    if (net.isIPv6(text)) return { host: text, port: 53 };
    const split = splitHostPort(text, false);
    if (typeof split === "string") return { host: text, port: 53 };
    const host = split.host.startsWith("[") ? split.host.slice(1, -1) : split.host;
    return { host, port: split.port === "" ? 53 : Number(split.port) };
  });
}

/**
 * Name servers with host names resolved to all their addresses, once, when the config
 * is applied (as nginx does at startup); rejects with `host not found in resolver "<v>"`.
 */
export async function resolveNameServers(addresses: readonly string[]): Promise<NameServer[]> {
  const out: NameServer[] = [];
  for (const text of addresses) {
    const [server] = nameServers([text]);
    if (net.isIP(server.host)) {
      out.push(server);
      continue;
    }
    let found: Array<{ address: string }>;
    try {
      found = await lookupAll(server.host);
    } catch {
      throw new Error(`host not found in resolver "${text}"`);
    }
    for (const a of found) out.push({ host: a.address, port: server.port });
  }
  return out;
}

/** `2001:db8::1` → `2001:0db8:0000:0000:0000:0000:0000:0001`, for comparisons and ip6.arpa names. */
export function expandIpv6(ip: string): string {
  let text = ip.toLowerCase();
  const v4 = text.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = text.slice(0, v4.index) + ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, tail] = text.includes("::") ? text.split("::") : [text, undefined];
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const fill = tail === undefined ? [] : Array(8 - groups(head).length - groups(tail).length).fill("0");
  return [...groups(head), ...fill, ...groups(tail)].map((g) => g.padStart(4, "0")).join(":");
}

/** The PTR query name: `4.3.2.1.in-addr.arpa`, or the nibbles of an IPv6 address under `ip6.arpa`. */
export function reverseName(ip: string): string {
  if (net.isIPv4(ip)) return `${ip.split(".").reverse().join(".")}.in-addr.arpa`;
  return `${expandIpv6(ip).replaceAll(":", "").split("").reverse().join(".")}.ip6.arpa`;
}

/** How often an unanswered query is sent again, to the next name server (nginx resends every second). */
const RESEND_MS = 1000;

/**
 * One question, asked of the name servers in turn until an answer or `timeoutMs`.
 * @example await queryDns([{ host: "127.0.0.1", port: 53 }], "1.0.0.127.in-addr.arpa", DNS_PTR, 30000)
 */
export function queryDns(servers: NameServer[], name: string, qtype: number, timeoutMs: number): Promise<DnsOutcome> {
  return new Promise((resolve) => {
    const id = crypto.randomInt(0, 0x10000);
    const query = buildQuery(id, name, qtype);
    const sockets = new Map<string, dgram.Socket>();
    let settled = false;
    let next = 0;

    const finish = (outcome: DnsOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      clearInterval(resend);
      for (const socket of sockets.values()) socket.close();
      resolve(outcome);
    };
    const socketFor = (family: "udp4" | "udp6"): dgram.Socket => {
      let socket = sockets.get(family);
      if (!socket) {
        socket = dgram.createSocket(family);
        socket.on("error", (err) => finish({ type: "failed", reason: err.message }));
        socket.on("message", (msg: Buffer) => {
          const outcome = parseAnswer(msg, id, qtype);
          if (outcome) finish(outcome);
        });
        sockets.set(family, socket);
      }
      return socket;
    };
    const send = () => {
      if (servers.length === 0) return finish({ type: "failed", reason: "no name servers" });
      const server = servers[next++ % servers.length];
      socketFor(net.isIPv6(server.host) ? "udp6" : "udp4").send(query, server.port, server.host);
    };

    const deadline = setTimeout(() => finish({ type: "failed", reason: "timed out" }), timeoutMs);
    const resend = setInterval(send, RESEND_MS);
    send();
  });
}

function buildQuery(id: number, name: string, qtype: number): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16BE(id, 0);
  header.writeUInt16BE(0x0100, 2); // RD
  header.writeUInt16BE(1, 4); // one question
  const labels = name.split(".").filter((l) => l !== "").map((l) => {
    const bytes = Buffer.from(l, "latin1");
    return Buffer.concat([Buffer.from([bytes.length]), bytes]);
  });
  const tail = Buffer.alloc(4);
  tail.writeUInt16BE(qtype, 0);
  tail.writeUInt16BE(1, 2); // IN
  return Buffer.concat([header, ...labels, Buffer.from([0]), tail]);
}

/** The outcome an answer carries, or null when the datagram is not our answer (ignored). */
function parseAnswer(msg: Buffer, id: number, qtype: number): DnsOutcome | null {
  try {
    if (msg.length < 12 || msg.readUInt16BE(0) !== id || (msg[2] & 0x80) === 0) return null;
    if (msg[2] & 0x02) return { type: "failed", reason: "truncated answer" };
    const rcode = msg[3] & 0x0f;
    if (rcode === 3) return { type: "not-found" };
    if (rcode !== 0) return { type: "failed", reason: `rcode ${rcode}` };
    let offset = 12;
    for (let q = msg.readUInt16BE(4); q > 0; q--) offset = readName(msg, offset).end + 4;
    const records: string[] = [];
    let ttl = Number.POSITIVE_INFINITY;
    for (let a = msg.readUInt16BE(6); a > 0; a--) {
      offset = readName(msg, offset).end;
      const type = msg.readUInt16BE(offset);
      const length = msg.readUInt16BE(offset + 8);
      const data = offset + 10;
      if (data + length > msg.length) throw new Error("short record");
      if (type === qtype) {
        ttl = Math.min(ttl, msg.readUInt32BE(offset + 4));
        if (type === DNS_PTR) records.push(readName(msg, data).name);
        else if (type === DNS_A && length === 4) records.push([...msg.subarray(data, data + 4)].join("."));
        else if (type === DNS_AAAA && length === 16) {
          const groups: string[] = [];
          for (let i = 0; i < 16; i += 2) groups.push(msg.readUInt16BE(data + i).toString(16).padStart(4, "0"));
          records.push(groups.join(":"));
        }
      }
      offset = data + length;
    }
    if (records.length > 0) return { type: "ok", records, ttl };
    // nginx: no answer at all is NXDOMAIN, answers of other types (a CNAME alone) are not, for PTR
    if (qtype === DNS_PTR && msg.readUInt16BE(6) > 0) return { type: "failed", reason: "no PTR type in DNS response" };
    return { type: "not-found" };
  } catch (err) {
    return { type: "failed", reason: `malformed answer: ${(err as Error).message}` };
  }
}

/** A possibly compressed name at `offset`; `end` is where the name's bytes end in place. */
function readName(msg: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let end = -1;
  let jumps = 0;
  for (;;) {
    if (offset >= msg.length) throw new Error("name past the end");
    const len = msg[offset];
    if (len === 0) {
      if (end < 0) end = offset + 1;
      return { name: labels.join("."), end };
    }
    if ((len & 0xc0) === 0xc0) {
      if (++jumps > 32) throw new Error("compression loop");
      if (end < 0) end = offset + 2;
      offset = ((len & 0x3f) << 8) | msg[offset + 1];
      continue;
    }
    labels.push(msg.subarray(offset + 1, offset + 1 + len).toString("latin1"));
    offset += 1 + len;
  }
}
