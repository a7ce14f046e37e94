/**
 * Listener forms and socket options, and the relay's back-pressure and idle
 * timeout, over real sockets.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort, freePortPair } from "../../support/ports.ts";
import { tempDir } from "../../support/temp_dir.ts";

/** A backend that accepts the proxy's LOGIN and then runs `after` on the connection. */
function loginBackend(after: (b: ScriptedConnection) => void = () => {}): Promise<ScriptedBackend> {
  return startScriptedBackend((b) => {
    b.send("* OK ready\r\n");
    let loggedIn = false;
    b.socket.on("data", () => {
      if (loggedIn) return;
      const got = b.received();
      if (/\{\d+\}\r\n$/.test(got)) b.send("+ OK\r\n");
      else if (got.endsWith("secret\r\n")) {
        loggedIn = true;
        b.send("a1 OK Logged in\r\n");
        after(b);
      }
    });
  });
}

async function login(port: number, host = "127.0.0.1"): Promise<WireClient> {
  const c = await WireClient.connect(port, host);
  assert.equal(await c.line(), "* OK IMAP4 ready");
  c.send("a1 LOGIN alice secret\r\n");
  assert.equal(await c.line(), "a1 OK Logged in");
  return c;
}

function connectUnix(file: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(file, () => resolve(s));
    s.once("error", reject);
  });
}

describe("listen forms", () => {
  let auth: AuthServer;
  let backend: ScriptedBackend;

  before(async () => {
    backend = await loginBackend();
    auth = await startAuthServer(routeTo(backend.port));
  });
  after(async () => {
    await auth.close();
    await backend.close();
  });

  test("a port alone listens on every IPv4 address", async () => {
    const port = await freePort();
    const proxy = await startProxy(`mail { auth_http ${auth.url}; server { listen ${port}; protocol imap; } }`);
    for (const host of ["127.0.0.1", "127.0.0.2"]) {
      const c = await login(port, host);
      c.close();
    }
    await proxy.stop();
  });

  test("a wildcard and a specific address on one port dispatch by local address", async () => {
    const port = await freePort();
    const proxy = await startProxy(`mail {
      auth_http ${auth.url};
      server { listen *:${port}; protocol imap; imap_capabilities WILDCARD; }
      server { listen 127.0.0.2:${port}; protocol imap; imap_capabilities SPECIFIC; }
    }`);
    for (const [host, word] of [["127.0.0.1", "WILDCARD"], ["127.0.0.2", "SPECIFIC"]]) {
      const c = await WireClient.connect(port, host);
      await c.line();
      c.send("a CAPABILITY\r\n");
      assert.equal(await c.line(), `* CAPABILITY ${word} AUTH=PLAIN`);
      c.close();
    }
    await proxy.stop();
  });

  test("a host name listens on each of its addresses", async () => {
    const port = await freePort();
    const proxy = await startProxy(`mail { auth_http ${auth.url}; server { listen localhost:${port}; protocol imap; } }`);
    const c = await login(port, "127.0.0.1");
    c.close();
    await proxy.stop();
  });

  test("IPv6 with ipv6only and a port range", async () => {
    const port = await freePortPair();
    const proxy = await startProxy(`mail { auth_http ${auth.url};
      server { listen [::1]:${port} ipv6only=on; protocol imap; }
      server { listen 127.0.0.1:${port}-${port + 1}; protocol imap; }
    }`);
    const v6 = await login(port, "::1");
    v6.close();
    const second = await login(port + 1);
    second.close();
    assert.deepEqual(
      proxy.proxy.addresses().map((a) => a.key).sort(),
      [`tcp6:[::1]:${port}`, `tcp:127.0.0.1:${port + 1}`, `tcp:127.0.0.1:${port}`].sort(),
    );
    await proxy.stop();
  });

  test("a unix socket listener serves clients and reports unix: as the client address", async () => {
    const file = path.join(tempDir("mailproxy-unix-"), "imap.sock");
    const proxy = await startProxy(`mail { auth_http ${auth.url}; server { listen unix:${file}; protocol imap; } }`);
    const before = auth.requests.length;
    const socket = await connectUnix(file);
    const got: string[] = [];
    socket.on("data", (d) => got.push(d.toString("latin1")));
    socket.write("a1 LOGIN alice secret\r\n");
    while (!got.join("").includes("a1 OK")) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.join(""), "* OK IMAP4 ready\r\na1 OK Logged in\r\n");
    assert.equal(auth.requests[before].header("Client-IP"), "unix:");
    socket.destroy();
    await proxy.stop();
  });

  test("so_keepalive=on and backlog= are accepted on a listener that serves", async () => {
    const port = await freePort();
    const proxy = await startProxy(`mail { auth_http ${auth.url};
      server { listen 127.0.0.1:${port} backlog=16 so_keepalive=30m::10; protocol imap; } }`);
    const c = await login(port);
    c.close();
    await proxy.stop();
  });

  test("a port already in use fails the start with the address in the error", async () => {
    const blocker = net.createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, "127.0.0.1", r));
    await assert.rejects(
      startProxy(`mail { auth_http ${auth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`),
      (err: NodeJS.ErrnoException) => err.code === "EADDRINUSE",
    );
    blocker.close();
  });
});

describe("relay", () => {
  test("a client that stops reading makes the proxy stop reading the backend", async () => {
    const total = 64 * 1024 * 1024;
    let pushed = 0;
    let stalled!: () => void;
    const stall = new Promise<void>((r) => (stalled = r));
    const backend = await loginBackend((b) => {
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (pushed < total) {
          pushed += chunk.length;
          if (!b.socket.write(chunk)) {
            // give the proxy a moment: if it kept reading, the drain would come back quickly
            const timer = setTimeout(stalled, 1000);
            b.socket.once("drain", () => {
              clearTimeout(timer);
              pump();
            });
            return;
          }
        }
      };
      b.waitFor("a2 FETCH 1 BODY[]\r\n").then(pump);
    });
    const auth = await startAuthServer(routeTo(backend.port));
    const port = await freePort();
    const proxy = await startProxy(`mail { auth_http ${auth.url}; server { listen 127.0.0.1:${port}; protocol imap; } }`);
    const c = await login(port);
    c.socket.pause();
    c.send("a2 FETCH 1 BODY[]\r\n");
    await stall;
    assert.ok(pushed < 16 * 1024 * 1024, `the proxy took ${pushed} bytes from the backend for a client that reads nothing`);
    c.socket.resume();
    const received = await c.bytes(total - 0, 120_000).catch(() => "");
    assert.equal(received.length, total, "every byte arrives once the client reads again");
    c.close();
    await proxy.stop();
    await auth.close();
    await backend.close();
  });

  test("proxy_timeout closes an idle relayed session on both sides", async () => {
    let backendClosed!: () => void;
    const closed = new Promise<void>((r) => (backendClosed = r));
    const backend = await loginBackend((b) => b.socket.on("close", () => backendClosed()));
    const auth = await startAuthServer(routeTo(backend.port));
    const port = await freePort();
    const proxy = await startProxy(`mail { auth_http ${auth.url}; proxy_timeout 300ms;
      server { listen 127.0.0.1:${port}; protocol imap; } }`);
    const c = await login(port);
    assert.equal(await c.rest(5000), "");
    await closed;
    assert.match(proxy.log(), /proxied session done \(idle-timeout\), bytes from client: 0, to client: 0/);
    await proxy.stop();
    await auth.close();
    await backend.close();
  });
});
