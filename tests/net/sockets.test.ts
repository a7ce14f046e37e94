/**
 * Each socket layer (src/net/) over real loopback sockets: back-pressure, pause,
 * half-close, TLS as server (STARTTLS) and as client. The node: layer's tests run on
 * every runtime; the native layer's are registered only where Bun runs (on Deno this
 * file has no "native" tests at all, so none is counted as passing there).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import tls from "node:tls";
import { RUNTIME } from "../../src/runtime.ts";
import { nodeSockets } from "../../src/net/node.ts";
import { bunSockets } from "../../src/net/bun.ts";
import type { NetListener, NetSocket, SocketOwner, Sockets } from "../../src/net/socket.ts";
import { makeTestPki, type TestPki } from "../support/pki.ts";
import { eventually } from "../support/resources.ts";

const MiB = 1024 * 1024;

/** An owner that records what its socket tells it. */
class Recorder implements SocketOwner {
  received: Buffer[] = [];
  drains = 0;
  ended = false;
  closed = false;
  connected = false;
  private waiters: Array<() => void> = [];
  socketData(_s: NetSocket, chunk: Buffer): void {
    this.received.push(Buffer.from(chunk));
    this.wake();
  }
  socketDrain(): void {
    this.drains++;
    this.wake();
  }
  socketEnd(): void {
    this.ended = true;
    this.wake();
  }
  socketError(): void {}
  socketClose(): void {
    this.closed = true;
    this.wake();
  }
  socketConnect(): void {
    this.connected = true;
    this.wake();
  }
  text(): string {
    return Buffer.concat(this.received).toString("latin1");
  }
  /** Resolves once `done()` holds, checked after every event. */
  until(done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const check = () => (done() ? resolve() : this.waiters.push(check));
      check();
    });
  }
  private wake(): void {
    const waiting = this.waiters;
    this.waiters = [];
    for (const w of waiting) w();
  }
}

/** A listener of `sockets` on a free loopback port; `next()` gives the next accepted socket. */
async function listening(sockets: Sockets): Promise<{ listener: NetListener; port: number; next: () => Promise<NetSocket> }> {
  const queue: NetSocket[] = [];
  let waiting: ((s: NetSocket) => void) | undefined;
  const listener = await sockets.listen({ host: "127.0.0.1", port: 0, backlog: 16 }, (s) => {
    if (waiting) {
      waiting(s);
      waiting = undefined;
    } else queue.push(s);
  });
  const port = (listener.address() as { port: number }).port;
  const next = () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise<NetSocket>((r) => (waiting = r)));
  return { listener, port, next };
}

/** `allowHalfOpen`: a client that may still send after the server's FIN. */
function connectPlain(port: number, allowHalfOpen = false): Promise<net.Socket> {
  return new Promise((resolve) => {
    const c = net.connect({ port, host: "127.0.0.1", allowHalfOpen }, () => resolve(c));
  });
}

function readAll(c: net.Socket | tls.TLSSocket, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    const onData = (d: Buffer) => {
      parts.push(d);
      n += d.length;
      if (n >= bytes) {
        c.removeListener("data", onData);
        resolve(Buffer.concat(parts));
      }
    };
    c.on("data", onData);
    c.resume();
  });
}

function adapterTests(name: string, sockets: Sockets): void {
  describe(`${name} sockets`, () => {
    /** A test of what Bun's native layer (and node:net on Bun) does, but Deno's node:net does not. */
    const nativeOnly = sockets.name === "native" ? test : () => {};
    let pki: TestPki;
    before(() => {
      pki = makeTestPki();
    });
    after(() => pki.remove());

    test("a write larger than the socket buffers returns false, arrives complete, and drain follows", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      client.pause();
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      const big = Buffer.alloc(8 * MiB, "abcdefgh");
      assert.equal(server.write(big), false);
      assert.ok(server.queued > 0);
      const got = await readAll(client, big.length);
      await owner.until(() => owner.drains === 1);
      assert.equal(got.length, big.length);
      assert.ok(got.equals(big));
      assert.equal(server.queued, 0);
      client.destroy();
      listener.close();
    });

    test("a write the kernel takes only in part counts whole in queued until its last byte is written", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      client.pause();
      const server = await next();
      server.owner = new Recorder();
      const big = Buffer.alloc(8 * MiB, "abcdefgh");
      assert.equal(server.write(big), false);
      // Part of it is in the kernel already; a session's bound on unread replies counts all of it.
      assert.equal(server.queued, big.length);
      await readAll(client, big.length);
      client.destroy();
      listener.close();
    });

    test("an accepted socket delivers nothing until resumed, and nothing while paused again", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      await new Promise<void>((r) => client.write("first\r\n", () => r()));
      // The bytes are on the server's side of the connection: a round trip proves it.
      server.write(Buffer.from("ping"));
      await readAll(client, 4);
      assert.equal(owner.text(), "");
      server.resume();
      await owner.until(() => owner.text() === "first\r\n");
      server.pause();
      await new Promise<void>((r) => client.write("second\r\n", () => r()));
      server.write(Buffer.from("ping"));
      await readAll(client, 4);
      assert.equal(owner.text(), "first\r\n");
      server.resume();
      await owner.until(() => owner.text() === "first\r\nsecond\r\n");
      client.destroy();
      listener.close();
    });

    test("a FIN that comes while paused is told after the bytes before it, on resume (native: not before)", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port, true);
      const server = await next();
      const owner = new Recorder();
      let textAtEnd: string | undefined;
      owner.socketEnd = () => {
        textAtEnd = owner.text();
        owner.ended = true;
      };
      server.owner = owner;
      server.resume();
      client.write("first\r\n");
      await owner.until(() => owner.text() === "first\r\n");
      server.pause();
      const clientEnded = new Promise<void>((r) => client.on("end", () => r()));
      await new Promise<void>((r) => client.end(() => r()));
      // The FIN is on the server's side of the connection and read: a round trip proves it.
      server.write(Buffer.from("ping"));
      await readAll(client, 4);
      // node:net tells the end of a paused stream with nothing buffered at once
      if (sockets.name === "native") assert.equal(owner.ended, false);
      server.resume();
      await owner.until(() => owner.closed);
      assert.equal(textAtEnd, "first\r\n");
      await clientEnded;
      listener.close();
    });

    // Deno's node:net fails the write with EPIPE instead (a peer's FIN there ends the writes too).
    nativeOnly("the peer's FIN while a large write is still queued: the write arrives whole before this side's FIN", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port, true);
      client.pause();
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      server.resume();
      const big = Buffer.alloc(8 * MiB, "abcdefgh");
      assert.equal(server.write(big), false);
      client.end();
      await owner.until(() => owner.ended);
      const clientEnded = new Promise<void>((r) => client.on("end", () => r()));
      const got = await readAll(client, big.length);
      await clientEnded;
      assert.ok(got.equals(big));
      await owner.until(() => owner.closed);
      listener.close();
    });

    test("end() sends what is queued, then FIN, and the socket closes", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      server.resume();
      const clientEnded = new Promise<void>((r) => client.on("end", () => r()));
      const got = readAll(client, 5);
      server.write(Buffer.from("bye\r\n"));
      server.end();
      assert.equal((await got).toString(), "bye\r\n");
      await clientEnded;
      client.end();
      await owner.until(() => owner.closed);
      assert.equal(server.closed, true);
      listener.close();
    });

    test("end() is a half-close: the peer's bytes still arrive, and the close is told on a later turn, once the peer closed", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port, true);
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      server.resume();
      const clientEnded = new Promise<void>((r) => client.on("end", () => r()));
      const got = readAll(client, 5);
      server.write(Buffer.from("bye\r\n"));
      server.end();
      assert.equal(owner.closed, false);
      assert.equal((await got).toString(), "bye\r\n");
      await clientEnded;
      client.write("late\r\n");
      await owner.until(() => owner.text() === "late\r\n");
      assert.equal(owner.closed, false);
      client.end();
      await owner.until(() => owner.closed);
      listener.close();
    });

    test("the peer's FIN is socketEnd; this side then ends too and the socket closes", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      server.resume();
      const clientEnded = new Promise<void>((r) => client.on("end", () => r()));
      client.resume();
      client.end();
      await owner.until(() => owner.ended);
      assert.equal(server.peerEnded, true);
      await clientEnded;
      await owner.until(() => owner.closed);
      listener.close();
    });

    test("STARTTLS as server: the handshake's facts (version, SNI name, ALPN) come back and data flows over TLS both ways", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      const server = await next();
      const owner = new Recorder();
      server.owner = owner;
      server.resume();
      client.write("STARTTLS\r\n");
      await owner.until(() => owner.text() === "STARTTLS\r\n");
      server.pause();
      const config = { context: { cert: fs.readFileSync(pki.rsaCert, "latin1"), key: fs.readFileSync(pki.rsaKey, "latin1") }, alpn: ["imap"] };
      const upgraded = server.startTlsServer({ configs: [config], pick: () => 0, requestCert: false, timeoutMs: 10_000 });
      const secure = tls.connect({ socket: client, rejectUnauthorized: false, servername: "mail.example.com", ALPNProtocols: ["imap"] });
      const result = await upgraded;
      assert.ok(!("error" in result), JSON.stringify(result));
      assert.equal(result.facts.protocol, "TLSv1.3");
      assert.equal(result.facts.serverName, "mail.example.com");
      assert.equal(result.facts.alpn, "imap");
      assert.deepEqual(result.facts.peerChain, []);
      server.resume();
      secure.write("a NOOP\r\n");
      await owner.until(() => owner.text() === "STARTTLS\r\na NOOP\r\n");
      const reply = readAll(secure, 6);
      server.write(Buffer.from("a OK\r\n"));
      assert.equal((await reply).toString(), "a OK\r\n");
      secure.destroy();
      listener.close();
    });

    test("STARTTLS as server: plaintext where the ClientHello belongs fails the upgrade with an error, and the socket is gone", async () => {
      const { listener, port, next } = await listening(sockets);
      const client = await connectPlain(port);
      client.on("error", () => {});
      const server = await next();
      server.owner = new Recorder();
      const config = { context: { cert: fs.readFileSync(pki.rsaCert, "latin1"), key: fs.readFileSync(pki.rsaKey, "latin1") }, alpn: ["imap"] };
      const upgraded = server.startTlsServer({ configs: [config], pick: () => 0, requestCert: false, timeoutMs: 10_000 });
      client.write("a1 LOGIN alice secret\r\n");
      const result = await upgraded;
      assert.ok("error" in result, JSON.stringify(result));
      assert.ok(await eventually(() => server.closed));
      client.destroy();
      listener.close();
    });

    test("TLS as client to a node:tls server: the chain verifies against the CA, the certificate is the server's, data flows", async () => {
      const server = tls.createServer({ cert: fs.readFileSync(pki.rsaCert), key: fs.readFileSync(pki.rsaKey) }, (s) => {
        s.on("data", (d: Buffer) => s.write(`echo ${d}`));
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const owner = new Recorder();
      const socket = sockets.connect("127.0.0.1", (server.address() as net.AddressInfo).port, owner);
      await owner.until(() => owner.connected);
      const result = await socket.startTlsClient({ ca: fs.readFileSync(pki.caFile, "latin1"), servername: "localhost" });
      assert.equal(result.type, "ok");
      if (result.type !== "ok") return;
      assert.equal(result.authorizationError, undefined);
      assert.equal(tls.checkServerIdentity("localhost", result.peerCertificate!), undefined);
      socket.resume();
      socket.write(Buffer.from("hello\r\n"));
      await owner.until(() => owner.text() === "echo hello\r\n");
      socket.destroy();
      await owner.until(() => owner.closed);
      server.close();
    });

    test("TLS as client to a self-signed server reports the chain error instead of failing the handshake", async () => {
      const server = tls.createServer({ cert: fs.readFileSync(pki.malloryCert), key: fs.readFileSync(pki.malloryKey) }, () => {});
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      const owner = new Recorder();
      const socket = sockets.connect("127.0.0.1", (server.address() as net.AddressInfo).port, owner);
      await owner.until(() => owner.connected);
      const result = await socket.startTlsClient({ ca: fs.readFileSync(pki.caFile, "latin1") });
      assert.equal(result.type, "ok");
      if (result.type === "ok") assert.equal(result.authorizationError, "DEPTH_ZERO_SELF_SIGNED_CERT");
      socket.destroy();
      server.close();
    });
  });
}

adapterTests("node:net/node:tls", nodeSockets);
// Bun's native sockets exist only on Bun: elsewhere these tests are not registered at all.
if (RUNTIME === "Bun") adapterTests("Bun native", bunSockets);
