/**
 * A scripted UDP name server on 127.0.0.1 for resolver tests: each question goes
 * to a handler that answers PTR/A/AAAA/CNAME records (with a TTL), NXDOMAIN, or nothing.
 */
import dgram from "node:dgram";

export type DnsAnswer =
  | { ptr: string; ttl?: number }
  | { a: string[]; ttl?: number }
  /** Full IPv6 addresses as 8 groups. */
  | { aaaa: string[]; ttl?: number }
  /** A CNAME record, whatever the question's type. */
  | { cname: string; ttl?: number }
  | "nxdomain"
  /** Never answer. */
  | "drop";

export interface DnsServer {
  port: number;
  /** Questions received, as `TYPE name`. */
  questions: string[];
  close(): Promise<void>;
}

const TYPES: Record<number, string> = { 1: "A", 12: "PTR", 28: "AAAA" };

function encodeName(name: string): Buffer {
  const parts = name.split(".").filter((p) => p !== "");
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "latin1")])), Buffer.from([0])]);
}

function readQuestion(msg: Buffer): { name: string; type: number; end: number } {
  let offset = 12;
  const labels: string[] = [];
  while (msg[offset] !== 0) {
    const len = msg[offset];
    labels.push(msg.subarray(offset + 1, offset + 1 + len).toString("latin1"));
    offset += 1 + len;
  }
  offset += 1;
  return { name: labels.join("."), type: msg.readUInt16BE(offset), end: offset + 4 };
}

export function startDnsServer(handler: (type: string, name: string) => DnsAnswer): Promise<DnsServer> {
  const socket = dgram.createSocket("udp4");
  const questions: string[] = [];
  socket.on("message", (msg, peer) => {
    const q = readQuestion(msg);
    const type = TYPES[q.type] ?? String(q.type);
    questions.push(`${type} ${q.name}`);
    const answer = handler(type, q.name);
    if (answer === "drop") return;
    const ttl = typeof answer === "object" ? answer.ttl ?? 60 : 60;
    const records: Buffer[] = [];
    const record = (rtype: number, rdata: Buffer) => {
      const head = Buffer.alloc(12);
      head.writeUInt16BE(0xc00c, 0); // pointer to the question's name
      head.writeUInt16BE(rtype, 2);
      head.writeUInt16BE(1, 4); // IN
      head.writeUInt32BE(ttl, 6);
      head.writeUInt16BE(rdata.length, 10);
      records.push(head, rdata);
    };
    if (typeof answer === "object" && "ptr" in answer && q.type === 12) record(12, encodeName(answer.ptr));
    if (typeof answer === "object" && "cname" in answer) record(5, encodeName(answer.cname));
    if (typeof answer === "object" && "a" in answer && q.type === 1) {
      for (const ip of answer.a) record(1, Buffer.from(ip.split(".").map(Number)));
    }
    if (typeof answer === "object" && "aaaa" in answer && q.type === 28) {
      for (const ip of answer.aaaa) record(28, Buffer.from(ip.split(":").map((g) => g.padStart(4, "0")).join(""), "hex"));
    }
    const header = Buffer.alloc(12);
    msg.copy(header, 0, 0, 2); // id
    header.writeUInt16BE(0x8580 | (answer === "nxdomain" ? 3 : 0), 2); // QR AA RD RA + rcode
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(records.length / 2, 6);
    socket.send(Buffer.concat([header, msg.subarray(12, q.end), ...records]), peer.port, peer.address);
  });
  return new Promise((resolve) =>
    socket.bind(0, "127.0.0.1", () =>
      resolve({
        port: socket.address().port,
        questions,
        close: () => new Promise<void>((r) => socket.close(() => r())),
      })
    )
  );
}
