/**
 * What the auth service learns beyond nginx: Client-Port, Server-IP and
 * Server-Port (auth_http_extra_headers), variables in auth_http_header values,
 * and the per-login `Auth-SMTP-Auth` switch as a scripted SMTP backend sees it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { AuthHttpUrl } from "../../src/config/model.ts";
import type { AuthRequest } from "../../src/auth/types.ts";
import { buildAuthRequest } from "../../src/auth/request.ts";
import { expandHeaderValue } from "../../src/auth/header_vars.ts";
import { decideAuthResponse } from "../../src/auth/response.ts";
import { type AuthServer, startAuthServer } from "../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../support/scripted_backend.ts";
import { freePort } from "../support/ports.ts";

const URL: AuthHttpUrl = { kind: "tcp", url: "http://auth.internal:9000/auth", host: "auth.internal", port: 9000, uri: "/auth" };
const crlf = (text: string) => text.replace(/\n/g, "\r\n");

const smtpRequest: AuthRequest = {
  protocol: "smtp",
  credentials: { method: "plain", user: "john", pass: "pw" },
  attempt: 1,
  clientIp: "192.0.2.7",
  clientHost: "client.example.org",
  clientPort: 50412,
  serverAddr: "10.0.0.1",
  serverPort: 587,
};

describe("Client-Port, Server-IP, Server-Port", () => {
  test("with auth_http_extra_headers they follow Client-IP and Client-Host", () => {
    assert.equal(
      buildAuthRequest(URL, smtpRequest, [], "1.0", { connectionHeaders: true }),
      crlf(`GET /auth HTTP/1.0
Host: auth.internal
Auth-Method: plain
Auth-User: john
Auth-Pass: pw
Auth-Protocol: smtp
Auth-Login-Attempt: 1
Client-IP: 192.0.2.7
Client-Host: client.example.org
Client-Port: 50412
Server-IP: 10.0.0.1
Server-Port: 587

`),
    );
  });

  test("without it the request is nginx's, whatever the session knows", () => {
    const text = buildAuthRequest(URL, smtpRequest, [], "1.0");
    assert.equal(text.includes("Client-Port"), false);
    assert.equal(text.includes("Server-IP"), false);
    assert.equal(text.endsWith("Client-Host: client.example.org\r\n\r\n"), true);
  });

  test("a UNIX-socket client sends no Client-Port, a UNIX listener no Server-IP/Server-Port", () => {
    const req: AuthRequest = { ...smtpRequest, protocol: "imap", clientIp: "unix:", clientPort: undefined, serverAddr: undefined, serverPort: undefined };
    assert.equal(buildAuthRequest(URL, req, [], "1.0", { connectionHeaders: true }).endsWith("Client-IP: unix:\r\n\r\n"), true);
  });
});

describe("auth_http_header variables", () => {
  const req: AuthRequest = { ...smtpRequest, tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", serverName: "mail.example.com" } };

  test("each variable takes the session's value", () => {
    assert.equal(
      expandHeaderValue("$remote_addr $remote_port $server_addr $server_port $protocol $ssl_server_name", req),
      "192.0.2.7 50412 10.0.0.1 587 smtp mail.example.com",
    );
  });
  test("braces delimit a name inside a word", () => {
    assert.equal(expandHeaderValue("ip=${remote_addr}:${remote_port}x", req), "ip=192.0.2.7:50412x");
  });
  test("any other dollar stays as written", () => {
    assert.equal(expandHeaderValue("costs $5, $unknown, ${nope}, $protocol_x, $", req), "costs $5, $unknown, ${nope}, $protocol_x, $");
  });
  test("a missing value is empty (no TLS, no SNI)", () => {
    assert.equal(expandHeaderValue("[$ssl_server_name]", smtpRequest), "[]");
  });
  test("a value from the client cannot add a header line", () => {
    const evil: AuthRequest = { ...req, tls: { protocol: "TLSv1.3", cipher: "x", serverName: "a\r\nAuth-Status: OK" } };
    assert.equal(expandHeaderValue("$ssl_server_name", evil), "a%0D%0AAuth-Status:%20OK");
  });
  test("the request carries the expanded values after the built-in headers", () => {
    const text = buildAuthRequest(URL, req, [["X-Client", "$remote_addr:$remote_port"], ["X-Key", "k$1"]], "1.0");
    assert.equal(text.endsWith("X-Client: 192.0.2.7:50412\r\nX-Key: k$1\r\n\r\n"), true);
  });
});

describe("Auth-SMTP-Auth", () => {
  const ctx = { protocol: "smtp" as const, method: "plain" as const, peer: "127.0.0.1:9000" };
  const ok = (...extra: Array<[string, string]>) => ({
    statusLine: "HTTP/1.0 200 OK",
    headers: [["Auth-Status", "OK"], ["Auth-Server", "127.0.0.1"], ["Auth-Port", "25"], ...extra] as Array<[string, string]>,
  });
  test("on and off (any case) become the login's switch", () => {
    assert.deepEqual(decideAuthResponse(ok(["Auth-SMTP-Auth", "on"]), ctx), { type: "ok", server: "127.0.0.1", port: 25, proxySmtpAuth: true });
    assert.deepEqual(decideAuthResponse(ok(["auth-smtp-auth", "OFF"]), ctx), { type: "ok", server: "127.0.0.1", port: 25, proxySmtpAuth: false });
  });
  test("absent, the server's proxy_smtp_auth applies", () => {
    assert.deepEqual(decideAuthResponse(ok(), ctx), { type: "ok", server: "127.0.0.1", port: 25 });
  });
  test("another value is the auth service's error", () => {
    assert.deepEqual(decideAuthResponse(ok(["Auth-SMTP-Auth", "yes"]), ctx), {
      type: "internal",
      reason: 'auth http server 127.0.0.1:9000 sent invalid SMTP auth switch:"yes"',
    });
  });
});

describe("through a running proxy (real sockets)", () => {
  let auth: AuthServer;
  let imapBackend: ScriptedBackend;
  let smtpBackend: ScriptedBackend;
  let proxy: RunningProxy;
  let imapPort: number;
  let plainImapPort: number;
  let smtpPort: number;
  let smtpSwitch: string | undefined;

  before(async () => {
    imapBackend = await startScriptedBackend((b) => {
      b.send("* OK backend ready\r\n");
      b.socket.on("data", () => {
        if (b.received().endsWith("{2}\r\n")) b.send("+ OK\r\n");
        else if (b.received().endsWith("pw\r\n")) b.send("a1 OK logged in\r\n");
        else if (b.received().endsWith("{4}\r\n")) b.send("+ OK\r\n");
      });
    });
    smtpBackend = await startScriptedBackend(smtpScript);
    auth = await startAuthServer((req) => {
      const backend = req.protocol === "smtp" ? smtpBackend.port : imapBackend.port;
      const headers: Array<[string, string]> = [["Auth-Status", "OK"], ["Auth-Server", "127.0.0.1"], ["Auth-Port", String(backend)]];
      if (smtpSwitch !== undefined) headers.push(["Auth-SMTP-Auth", smtpSwitch]);
      return { headers };
    });
    [imapPort, plainImapPort, smtpPort] = [await freePort(), await freePort(), await freePort()];
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      auth_http_keepalive 0;
      server {
        listen 127.0.0.1:${imapPort};
        protocol imap;
        auth_http_extra_headers on;
        auth_http_header X-Client "$remote_addr:$remote_port";
        auth_http_header X-Front "${"$"}{server_addr}:${"$"}server_port/$protocol [$ssl_server_name] $5";
      }
      server {
        listen 127.0.0.1:${plainImapPort};
        protocol imap;
        auth_http_header X-Client "$remote_addr";
      }
      server {
        listen 127.0.0.1:${smtpPort};
        protocol smtp;
        xclient on;
      }
    }`);
  });
  after(async () => {
    await proxy.stop();
    await auth.close();
    await imapBackend.close();
    await smtpBackend.close();
  });

  test("the auth service receives Client-Port, Server-IP, Server-Port and the expanded headers, byte for byte", async () => {
    const c = await WireClient.connect(imapPort);
    const clientPort = c.socket.localPort!;
    await c.line();
    c.send("a1 LOGIN john pw\r\n");
    assert.equal(await c.line(), "a1 OK logged in");
    const req = auth.requests[auth.requests.length - 1]!;
    assert.equal(
      req.raw,
      crlf(`GET /auth HTTP/1.0
Host: 127.0.0.1
Auth-Method: plain
Auth-User: john
Auth-Pass: pw
Auth-Protocol: imap
Auth-Login-Attempt: 1
Client-IP: 127.0.0.1
Client-Port: ${clientPort}
Server-IP: 127.0.0.1
Server-Port: ${imapPort}
X-Client: 127.0.0.1:${clientPort}
X-Front: 127.0.0.1:${imapPort}/imap [] $5

`),
    );
    c.close();
  });

  test("a server without auth_http_extra_headers sends nginx's headers only", async () => {
    const c = await WireClient.connect(plainImapPort);
    await c.line();
    c.send("a1 LOGIN john pw\r\n");
    assert.equal(await c.line(), "a1 OK logged in");
    const req = auth.requests[auth.requests.length - 1]!;
    assert.deepEqual(req.headers.map(([name]) => name), [
      "Host", "Auth-Method", "Auth-User", "Auth-Pass", "Auth-Protocol", "Auth-Login-Attempt", "Client-IP", "X-Client",
    ]);
    assert.equal(req.header("X-Client"), "127.0.0.1");
    c.close();
  });

  async function smtpLogin(): Promise<ScriptedConnection> {
    const before = smtpBackend.connections.length;
    const c = await WireClient.connect(smtpPort);
    assert.equal(await c.line(), "220 mx.example.com ESMTP ready");
    c.send("EHLO client.example.org\r\n");
    assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
    c.send("AUTH PLAIN " + Buffer.from("\0john\0pw").toString("base64") + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    c.close();
    return smtpBackend.connections[before]!;
  }

  test("Auth-SMTP-Auth: on makes the proxy authenticate to the SMTP backend for that login", async () => {
    smtpSwitch = "on";
    const backend = await smtpLogin();
    assert.deepEqual(backend.received().split("\r\n"), [
      "EHLO mx.example.com",
      "XCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]",
      "EHLO client.example.org",
      "AUTH PLAIN " + Buffer.from("\0john\0pw").toString("base64"),
      "",
    ]);
  });

  test("Auth-SMTP-Auth: off (or absent, with proxy_smtp_auth off) sends XCLIENT LOGIN and no AUTH", async () => {
    for (const value of ["off", undefined]) {
      smtpSwitch = value;
      const backend = await smtpLogin();
      assert.deepEqual(backend.received().split("\r\n"), [
        "EHLO mx.example.com",
        "XCLIENT ADDR=127.0.0.1 LOGIN=john NAME=[UNAVAILABLE]",
        "EHLO client.example.org",
        "",
      ]);
    }
    smtpSwitch = undefined;
  });
});

/** A submission server: 250 to EHLO, 220 to XCLIENT, 235 to AUTH. */
function smtpScript(b: ScriptedConnection): void {
  b.send("220 mta.internal ESMTP\r\n");
  let seen = 0;
  b.socket.on("data", () => {
    const got = b.received();
    for (let eol = got.indexOf("\r\n", seen); eol >= 0; eol = got.indexOf("\r\n", seen)) {
      const line = got.slice(seen, eol);
      seen = eol + 2;
      if (line.startsWith("EHLO")) b.send("250-mta.internal\r\n250 AUTH PLAIN\r\n");
      else if (line.startsWith("XCLIENT")) b.send("220 mta.internal ESMTP\r\n");
      else if (line.startsWith("AUTH")) b.send("235 2.7.0 Authentication successful\r\n");
    }
  });
}
