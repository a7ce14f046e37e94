/**
 * What the SMTP client-host tests share: a backend that takes XCLIENT (the
 * proxy's login to it), and a client that sends one AUTH PLAIN.
 */
import net from "node:net";
import { type ScriptedBackend, startScriptedBackend } from "./scripted_backend.ts";

/** An SMTP backend offering XCLIENT to the EHLO mx.example.com the test configs use. */
export function startXclientBackend(): Promise<ScriptedBackend> {
  return startScriptedBackend((b) => {
    b.send("220 mta ESMTP\r\n");
    b.socket.on("data", () => {
      const got = b.received();
      if (got.endsWith("EHLO mx.example.com\r\n")) b.send("250-mta\r\n250 XCLIENT NAME ADDR LOGIN\r\n");
      else if (/XCLIENT [^\r]*\r\n$/.test(got)) b.send("220 mta ESMTP\r\n");
    });
  });
}

/** An SMTP client (bound to `from` when given): the greeting, one AUTH PLAIN as alice, its reply. */
export function authPlain(port: number, host = "127.0.0.1", from?: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ port, host, ...(from ? { localAddress: from } : {}) });
    let data = "";
    socket.on("error", reject);
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString("latin1");
      const lines = data.split("\r\n");
      if (lines.length === 2) socket.write(`AUTH PLAIN ${Buffer.from("\0alice\0secret").toString("base64")}\r\n`);
      if (lines.length === 3) {
        socket.destroy();
        resolve(lines.slice(0, 2));
      }
    });
  });
}
