/**
 * The session's pre-auth back-pressure (protocols.md §1.4), on a real loopback
 * socket of the socket layer in use (src/net/choose.ts): while the client leaves its replies unread the session stops reading
 * its commands, and once the client reads, every command is answered in order.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { effectiveServers, loadConfigText } from "../../src/config/load.ts";
import { Logger } from "../../src/log/logger.ts";
import { Session, type SessionDeps } from "../../src/server/session.ts";
import { eventually } from "../support/resources.ts";
import { defaultSockets } from "../../src/net/choose.ts";
import type { NetListener, NetSocket } from "../../src/net/socket.ts";
import { tempDir } from "../support/temp_dir.ts";

/** The proxy's end of a connection as the test sees it: bytes the session read, whether it reads. */
interface ProxyEnd {
  bytesRead: number;
  paused: boolean;
}

/** Count what the session reads and follow its pause/resume, on the socket itself. */
function watch(socket: NetSocket): ProxyEnd {
  const end: ProxyEnd = { bytesRead: 0, paused: true };
  const session = socket.owner!;
  const data = session.socketData.bind(session);
  session.socketData = (s, chunk) => {
    end.bytesRead += chunk.length;
    data(s, chunk);
  };
  const pause = socket.pause.bind(socket);
  const resume = socket.resume.bind(socket);
  socket.pause = () => {
    end.paused = true;
    pause();
  };
  socket.resume = () => {
    end.paused = false;
    resume();
  };
  return end;
}

const MiB = 1024 * 1024;
const GREETING = "* OK IMAP4 ready\r\n";
const COMMAND = "a NOOP\r\n";
const REPLY = "a OK completed\r\n";

/**
 * Sessions of one IMAP server (`extra`: more directives), logging to a temp file;
 * `accepted` resolves with the proxy's end of the next connection.
 */
function imapSessions(extra = ""): { listen: () => Promise<NetListener>; accepted: () => Promise<ProxyEnd>; log: () => string } {
  const { config } = loadConfigText(
    `mail { server_name mx.example.com; auth_http http://127.0.0.1:1/auth; server { listen 127.0.0.1:143; protocol imap; ${extra} } }`,
    "/test/mailproxy.conf",
  );
  const server = effectiveServers(config)[0]!;
  const logFile = path.join(tempDir("mailproxy-session-"), "error.log");
  const deps: SessionDeps = {
    server,
    listen: server.listen[0]!,
    auth: { authenticate: () => Promise.reject(new Error("no login in this test")), close() {} },
    logger: new Logger([{ path: logFile, level: "info", json: false }]),
  };
  let waiting: ((end: ProxyEnd) => void) | undefined;
  const listen = () =>
    defaultSockets().listen({ host: "127.0.0.1", port: 0, backlog: 511 }, (socket) => {
      const session = new Session(socket, deps);
      const end = watch(socket);
      void session.start();
      waiting?.(end);
    });
  const log = () => (fs.existsSync(logFile) ? fs.readFileSync(logFile, "latin1") : "");
  return { listen, accepted: () => new Promise((resolve) => (waiting = resolve)), log };
}

function portOf(listener: NetListener): number {
  return (listener.address() as { port: number }).port;
}

/** Write `block` until `total` bytes or the socket is gone, waiting for drain; never reads. */
function pipeline(socket: net.Socket, block: Buffer, total: number): void {
  let sent = 0;
  const more = () => {
    while (sent < total && !socket.destroyed) {
      sent += block.length;
      if (!socket.write(block)) return void socket.once("drain", more);
    }
  };
  more();
}

describe("pre-auth back-pressure in the session", () => {
  let listener: NetListener;
  let accepted: () => Promise<ProxyEnd>;
  let port = 0;

  before(async () => {
    const sessions = imapSessions();
    accepted = sessions.accepted;
    listener = await sessions.listen();
    port = portOf(listener);
  });

  after(() => listener.close());

  test("a client that pipelines without reading is not read until it takes its replies, then every command is answered", async () => {
    const proxySide = accepted();
    const client = net.connect(port, "127.0.0.1");
    const proxyEnd = await proxySide;
    let received = 0;
    let text = "";
    client.on("data", (d: Buffer) => {
      received += d.length;
      if (text.length < GREETING.length + REPLY.length) text += d.toString("latin1");
    });
    await eventually(() => received >= GREETING.length);
    client.pause();

    // Far more than the socket buffers in between hold.
    const total = 16 * MiB;
    pipeline(client, Buffer.from(COMMAND.repeat(8192)), total);
    assert.ok(await eventually(() => proxyEnd.paused, 20_000), "the session stopped reading");
    // The client's commands back up behind the unread ones: the kernel buffers are full.
    assert.ok(await eventually(() => client.writableLength > 0, 20_000), "the client's writes back up");
    assert.ok(proxyEnd.bytesRead < total, `the session read all ${total} bytes`);

    client.resume();
    assert.ok(await eventually(() => received === GREETING.length + (total / COMMAND.length) * REPLY.length, 60_000), `received ${received}`);
    assert.equal(proxyEnd.bytesRead, total);
    assert.equal(text.slice(0, GREETING.length + REPLY.length), GREETING + REPLY);
    client.destroy();
  });

  test("a client whose unread replies pass the bound is closed and logged", async () => {
    // Capability lines of 4 KiB: one batch of replies is more than a session may queue.
    const words = Array.from({ length: 40 }, (_, i) => `X-${i}-${"y".repeat(100)}`).join(" ");
    const big = imapSessions(`imap_capabilities ${words}; timeout 10s;`);
    const bigListener = await big.listen();
    const bigPort = portOf(bigListener);
    try {
      const client = net.connect(bigPort, "127.0.0.1");
      client.on("error", () => {});
      client.pause();
      const closed = new Promise<void>((resolve) => client.on("close", () => resolve()));
      pipeline(client, Buffer.from("a CAPABILITY\r\n".repeat(4096)), 4096 * 14 * 5);
      assert.ok(await eventually(() => big.log().includes("client sent too many commands without reading the replies"), 20_000), big.log());
      // A paused socket may not notice the close until it reads.
      client.resume();
      await closed;
    } finally {
      bigListener.close();
    }
  });
});
