/**
 * `listen ... proxy_protocol` and `set_real_ip_from` end to end: a balancer's
 * PROXY header (v1, v2, split, broken), the address it carries in auth_http,
 * the PROXY v2 header towards the backend and the log.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import tls from "node:tls";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { makeTestCertificate, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { parseProxyHeader, V2_SIGNATURE } from "../../../src/server/proxy_protocol_in.ts";

const V1 = "PROXY TCP4 203.0.113.9 192.0.2.10 51234 143\r\n";

/** An IMAP backend that accepts the proxy's literal LOGIN for anyone. */
function imapBackend(): Promise<ScriptedBackend> {
  return startScriptedBackend((c) => {
    let lines = 0;
    let seen = 0;
    c.send("* OK backend ready\r\n");
    c.socket.on("data", () => {
      const data = Buffer.from(c.received(), "latin1");
      const header = parseProxyHeader(data);
      if (header.type !== "ok") return;
      const text = data.subarray(header.consumed).toString("latin1");
      const all = text.split("\r\n").length - 1;
      for (; seen < all; seen++) {
        lines++;
        if (lines <= 2) c.send("+ OK\r\n");
        else if (lines === 3) c.send("a1 OK logged in\r\n");
      }
    });
  });
}

async function login(c: WireClient): Promise<void> {
  assert.equal(await c.line(), "* OK IMAP4 ready");
  c.send("a1 LOGIN john secret\r\n");
  assert.equal(await c.line(), "a1 OK logged in");
}

describe("PROXY protocol from a balancer", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let proxy: RunningProxy;
  let trusted: number;
  let untrusted: number;
  let tlsPort: number;
  let cert: TestCertificate;

  before(async () => {
    backend = await imapBackend();
    auth = await startAuthServer(routeTo(backend.port));
    cert = makeTestCertificate();
    [trusted, untrusted, tlsPort] = [await freePort(), await freePort(), await freePort()];
    proxy = await startProxy(`mail {
      auth_http ${auth.url};
      proxy_protocol v2;
      timeout 5s;
      server {
        listen 127.0.0.1:${trusted} proxy_protocol;
        protocol imap;
        set_real_ip_from 10.0.0.0/8;
        set_real_ip_from 127.0.0.0/8;
      }
      server {
        listen 127.0.0.1:${untrusted} proxy_protocol;
        protocol imap;
        set_real_ip_from 10.0.0.0/8;
      }
      server {
        listen 127.0.0.1:${tlsPort} ssl proxy_protocol;
        protocol imap;
        ssl_certificate ${cert.certFile};
        ssl_certificate_key ${cert.keyFile};
        set_real_ip_from 127.0.0.1;
      }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    await backend.close();
    cert.remove();
  });

  test("a trusted balancer's v1 header sets Client-IP, the Proxy-Protocol headers, the backend's PROXY v2 header and the log", async () => {
    const before = auth.requests.length;
    const c = await WireClient.connect(trusted);
    c.send(V1);
    await login(c);
    const req = auth.requests[before]!;
    assert.equal(req.header("Client-IP"), "203.0.113.9");
    assert.deepEqual(req.headers.filter(([n]) => n.startsWith("Proxy-Protocol")), [
      ["Proxy-Protocol-Addr", "203.0.113.9"],
      ["Proxy-Protocol-Port", "51234"],
      ["Proxy-Protocol-Server-Addr", "192.0.2.10"],
      ["Proxy-Protocol-Server-Port", "143"],
    ]);
    const conn = backend.connections.at(-1)!;
    const header = parseProxyHeader(Buffer.from(conn.received(), "latin1"));
    assert.equal(header.type, "ok");
    assert.deepEqual(header.type === "ok" && header.info, {
      addr: "203.0.113.9",
      port: 51234,
      serverAddr: "127.0.0.1",
      serverPort: trusted,
    });
    assert.equal(conn.received().slice(0, 12), V2_SIGNATURE.toString("latin1"));
    c.close();
    assert.match(proxy.log(), /client logged in, client: 203\.0\.113\.9, server: 127\.0\.0\.1:\d+, login: "john"/);
  });

  test("an untrusted peer's header reaches auth_http as Proxy-Protocol-* but the client address stays", async () => {
    const before = auth.requests.length;
    const c = await WireClient.connect(untrusted);
    c.send(V1);
    await login(c);
    const req = auth.requests[before]!;
    assert.equal(req.header("Client-IP"), "127.0.0.1");
    assert.equal(req.header("Proxy-Protocol-Addr"), "203.0.113.9");
    c.close();
  });

  test("a v2 header sent one byte at a time is accepted", async () => {
    const before = auth.requests.length;
    const body = Buffer.from([198, 51, 100, 7, 192, 0, 2, 10, 0x30, 0x39, 0x00, 0x8f]);
    const header = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, 0x11, 0x00, body.length]), body]);
    const c = await WireClient.connect(trusted);
    for (const byte of header) {
      c.send(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    await login(c);
    assert.equal(auth.requests[before]!.header("Client-IP"), "198.51.100.7");
    assert.equal(auth.requests[before]!.header("Proxy-Protocol-Port"), "12345");
    c.close();
  });

  test("PROXY UNKNOWN is accepted and sends no Proxy-Protocol headers", async () => {
    const before = auth.requests.length;
    const c = await WireClient.connect(trusted);
    c.send("PROXY UNKNOWN\r\n");
    await login(c);
    const req = auth.requests[before]!;
    assert.equal(req.header("Client-IP"), "127.0.0.1");
    assert.equal(req.header("Proxy-Protocol-Addr"), undefined);
    c.close();
  });

  test("a command in the same packet as the header is read after it", async () => {
    const c = await WireClient.connect(trusted);
    c.send(`${V1}a1 NOOP\r\n`);
    assert.deepEqual(await c.lines(2), ["* OK IMAP4 ready", "a1 OK completed"]);
    c.close();
  });

  test("a broken header closes the connection without a byte and is logged", async () => {
    const c = await WireClient.connect(trusted);
    c.send("a1 LOGIN john secret\r\n");
    assert.equal(await c.rest(), "");
    assert.match(proxy.log(), /\[error\] \d+#0: \*\d+ broken header: "a1 LOGIN john secret\\x0d\\x0a", client: 127\.0\.0\.1/);
  });

  test("on an ssl listener the header comes first and TLS follows", { timeout: 8000 }, async () => {
    const before = auth.requests.length;
    const raw = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(tlsPort, "127.0.0.1", () => resolve(s));
    });
    await new Promise<void>((r) => raw.write("PROXY TCP4 192.0.2.77 192.0.2.10 4000 993\r\n", () => r()));
    await new Promise((r) => setTimeout(r, 50));
    const secure = await new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({ socket: raw, ca: cert.ca, servername: "localhost" }, () => resolve(s));
      s.once("error", reject);
    });
    const lines: string[] = [];
    let buffer = "";
    const next = () =>
      new Promise<string>((resolve) => {
        const check = () => {
          const i = buffer.indexOf("\r\n");
          if (i < 0) return false;
          resolve(buffer.slice(0, i));
          buffer = buffer.slice(i + 2);
          return true;
        };
        if (!check()) secure.once("data", function more(d: Buffer) {
          buffer += d.toString("latin1");
          if (!check()) secure.once("data", more);
        });
      });
    lines.push(await next());
    secure.write("a1 LOGIN john secret\r\n");
    lines.push(await next());
    assert.deepEqual(lines, ["* OK IMAP4 ready", "a1 OK logged in"]);
    assert.equal(auth.requests[before]!.header("Client-IP"), "192.0.2.77");
    secure.destroy();
  });
});
