/**
 * XOAUTH2 and OAUTHBEARER end to end (beyond nginx): client → mailproxy →
 * scripted auth service → scripted IMAP/POP3/SMTP backend, real sockets. The
 * exact SASL strings each side received are asserted, with and without an
 * initial response, the RFC 7628 error exchange, an Auth-Pass from the service,
 * and passthrough to a backend that sends its own error challenge.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort } from "../../support/ports.ts";
import { type AuthReply, type AuthServer, startAuthServer } from "../../support/auth_server.ts";

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const XOAUTH2 = (user: string, token: string) => b64(`user=${user}\x01auth=Bearer ${token}\x01\x01`);
const OAUTHBEARER = (user: string, token: string) => b64(`n,a=${user},\x01host=mx\x01port=143\x01auth=Bearer ${token}\x01\x01`);
/** mailproxy's own error challenge: {"status":"invalid_token","schemes":"bearer"}. */
const PROXY_CHALLENGE = b64('{"status":"invalid_token","schemes":"bearer"}');
const BACKEND_CHALLENGE = b64('{"status":"invalid_token","scope":"mail"}');

/** Calls `onLine` for each complete line a scripted backend receives. */
function lines(c: ScriptedConnection, onLine: (line: string) => void): void {
  let buffer = "";
  c.socket.on("data", (d: Buffer) => {
    buffer += d.toString("latin1");
    let end;
    while ((end = buffer.indexOf("\r\n")) >= 0) {
      const line = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      onLine(line);
    }
  });
}

/** Accepts "good-token"; answers anything else with the RFC 7628 challenge and then a refusal. */
function imapBackend(c: ScriptedConnection): void {
  c.send("* OK backend ready\r\n");
  let failTag = "";
  lines(c, (line) => {
    if (failTag) {
      c.send(`${failTag} NO [AUTHENTICATIONFAILED] backend says no\r\n`);
      failTag = "";
      return;
    }
    const m = /^(\S+) AUTHENTICATE \S+ (\S+)$/.exec(line);
    if (m) {
      if (Buffer.from(m[2]!, "base64").toString("latin1").includes("good-token")) c.send(`${m[1]} OK backend welcomes you\r\n`);
      else {
        failTag = m[1]!;
        c.send(`+ ${BACKEND_CHALLENGE}\r\n`);
      }
    } else if (/\{\d+\}$/.test(line)) c.send("+ OK\r\n");
    else if (line === "backend-pw") c.send("a1 OK password login\r\n");
  });
}

function pop3Backend(c: ScriptedConnection): void {
  c.send("+OK backend ready\r\n");
  lines(c, (line) => {
    if (line.startsWith("AUTH ")) c.send("+OK backend welcomes you\r\n");
    else if (line.startsWith("USER ")) c.send("+OK\r\n");
    else if (line.startsWith("PASS ")) c.send("+OK password login\r\n");
  });
}

function smtpBackend(c: ScriptedConnection): void {
  c.send("220 backend ESMTP\r\n");
  lines(c, (line) => {
    if (line.startsWith("EHLO ")) c.send("250-backend\r\n250 AUTH PLAIN XOAUTH2 OAUTHBEARER\r\n");
    else if (line.startsWith("AUTH ")) c.send("235 2.7.0 Accepted\r\n");
  });
}

/** The auth service: good-token → OK; pass-token → OK with Auth-Pass; else refused. */
function startOAuthService(backends: Record<string, number>): Promise<AuthServer> {
  return startAuthServer((req): AuthReply => {
    const port = String(backends[req.protocol]);
    if (req.pass === "good-token") return { headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": port } };
    if (req.pass === "pass-token") {
      return { headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": port, "Auth-User": "john", "Auth-Pass": "backend-pw" } };
    }
    return { headers: { "Auth-Status": "Invalid token", "Auth-Error-Code": "535 5.7.8" } };
  });
}

describe("XOAUTH2 and OAUTHBEARER through the auth service", () => {
  const backends: Record<string, ScriptedBackend> = {};
  const ports: Record<string, number> = {};
  let auth: AuthServer;
  let proxy: RunningProxy;

  before(async () => {
    backends.imap = await startScriptedBackend(imapBackend);
    backends.pop3 = await startScriptedBackend(pop3Backend);
    backends.smtp = await startScriptedBackend(smtpBackend);
    auth = await startOAuthService({ imap: backends.imap.port, pop3: backends.pop3.port, smtp: backends.smtp.port });
    for (const p of ["imap", "pop3", "smtp"]) ports[p] = await freePort();
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      server { listen 127.0.0.1:${ports.imap}; protocol imap; imap_auth plain xoauth2 oauthbearer; }
      server { listen 127.0.0.1:${ports.pop3}; protocol pop3; pop3_auth plain xoauth2 oauthbearer; }
      server { listen 127.0.0.1:${ports.smtp}; protocol smtp; smtp_auth plain xoauth2 oauthbearer; proxy_smtp_auth on; xclient off; }
    }`);
  });
  after(async () => {
    await proxy.stop();
    await auth.close();
    for (const b of Object.values(backends)) await b.close();
  });

  const lastBackend = (p: string) => backends[p]!.connections[backends[p]!.connections.length - 1]!;
  const lastRequest = () => auth.requests[auth.requests.length - 1]!;

  test("IMAP AUTHENTICATE XOAUTH2 with an initial response: token to the auth service, same payload to the backend", async () => {
    const payload = XOAUTH2("me@example.com", "good-token");
    const c = await WireClient.connect(ports.imap!);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 CAPABILITY\r\n");
    assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=XOAUTH2 AUTH=OAUTHBEARER", "a1 OK completed"]);
    c.send(`a2 AUTHENTICATE XOAUTH2 ${payload}\r\n`);
    assert.equal(await c.line(), "a2 OK backend welcomes you");
    const req = lastRequest();
    assert.deepEqual([req.method, req.user, req.pass, req.protocol], ["xoauth2", "me@example.com", "good-token", "imap"]);
    assert.ok(req.raw.includes("\r\nAuth-Method: xoauth2\r\nAuth-User: me@example.com\r\nAuth-Pass: good-token\r\n"));
    assert.equal(lastBackend("imap").received(), `a2 AUTHENTICATE XOAUTH2 ${payload}\r\n`);
    c.close();
  });

  test("IMAP AUTHENTICATE OAUTHBEARER without an initial response gets an empty challenge first", async () => {
    const payload = OAUTHBEARER("me@example.com", "good-token");
    const c = await WireClient.connect(ports.imap!);
    await c.line();
    c.send("t1 AUTHENTICATE OAUTHBEARER\r\n");
    assert.equal(await c.line(), "+ ");
    c.send(`${payload}\r\n`);
    assert.equal(await c.line(), "t1 OK backend welcomes you");
    assert.deepEqual([lastRequest().method, lastRequest().user, lastRequest().pass], ["oauthbearer", "me@example.com", "good-token"]);
    assert.equal(lastBackend("imap").received(), `t1 AUTHENTICATE OAUTHBEARER ${payload}\r\n`);
    c.close();
  });

  test("IMAP with an Auth-Pass from the service logs in to the backend with LOGIN and that password", async () => {
    const c = await WireClient.connect(ports.imap!);
    await c.line();
    c.send(`a1 AUTHENTICATE XOAUTH2 ${XOAUTH2("me@example.com", "pass-token")}\r\n`);
    assert.equal(await c.line(), "a1 OK password login");
    assert.equal(lastBackend("imap").received(), "a1 LOGIN {4}\r\njohn {10}\r\nbackend-pw\r\n");
    c.close();
  });

  test("IMAP refusal: error challenge, dummy response, tagged NO, then the connection closes", async () => {
    const before = backends.imap!.connections.length;
    const c = await WireClient.connect(ports.imap!);
    await c.line();
    c.send(`a1 AUTHENTICATE XOAUTH2 ${XOAUTH2("me@example.com", "bad-token")}\r\n`);
    assert.equal(await c.line(), `+ ${PROXY_CHALLENGE}`);
    c.send("AQ==\r\n");
    assert.equal(await c.line(), "a1 NO Invalid token");
    assert.equal(await c.rest(), "");
    await c.closed;
    assert.equal(backends.imap!.connections.length, before);
  });

  test("POP3 AUTH XOAUTH2 with an initial response, and the refusal exchange", async () => {
    const payload = XOAUTH2("me@example.com", "good-token");
    const c = await WireClient.connect(ports.pop3!);
    assert.equal(await c.line(), "+OK POP3 ready");
    c.send(`AUTH XOAUTH2 ${payload}\r\n`);
    assert.equal(await c.line(), "+OK backend welcomes you");
    assert.deepEqual([lastRequest().method, lastRequest().pass, lastRequest().protocol], ["xoauth2", "good-token", "pop3"]);
    assert.equal(lastBackend("pop3").received(), `AUTH XOAUTH2 ${payload}\r\n`);
    c.close();

    const d = await WireClient.connect(ports.pop3!);
    await d.line();
    d.send("AUTH OAUTHBEARER\r\n");
    assert.equal(await d.line(), "+ ");
    d.send(`${OAUTHBEARER("me@example.com", "bad-token")}\r\n`);
    assert.equal(await d.line(), `+ ${PROXY_CHALLENGE}`);
    d.send("AQ==\r\n");
    assert.equal(await d.line(), "-ERR Invalid token");
    assert.equal(await d.rest(), "");
  });

  test("POP3 with an Auth-Pass from the service uses USER/PASS", async () => {
    const c = await WireClient.connect(ports.pop3!);
    await c.line();
    c.send(`AUTH XOAUTH2 ${XOAUTH2("me@example.com", "pass-token")}\r\n`);
    assert.equal(await c.line(), "+OK password login");
    assert.equal(lastBackend("pop3").received(), "USER john\r\nPASS backend-pw\r\n");
    c.close();
  });

  test("SMTP AUTH XOAUTH2 goes to the backend after EHLO; a refusal is 334 challenge, empty line, 535", async () => {
    const payload = XOAUTH2("me@example.com", "good-token");
    const c = await WireClient.connect(ports.smtp!);
    assert.equal(await c.line(), "220 mx.example.com ESMTP ready");
    c.send("EHLO client.example\r\n");
    assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 AUTH PLAIN XOAUTH2 OAUTHBEARER"]);
    c.send(`AUTH XOAUTH2 ${payload}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(lastBackend("smtp").received(), `EHLO mx.example.com\r\nAUTH XOAUTH2 ${payload}\r\n`);
    c.close();

    const d = await WireClient.connect(ports.smtp!);
    await d.line();
    d.send("EHLO client.example\r\n");
    await d.lines(2);
    d.send(`AUTH OAUTHBEARER ${OAUTHBEARER("me@example.com", "bad-token")}\r\n`);
    assert.equal(await d.line(), `334 ${PROXY_CHALLENGE}`);
    d.send("\r\n");
    assert.equal(await d.line(), "535 5.7.8 Invalid token");
    assert.equal(await d.rest(), "");
  });

  test("SMTP with an Auth-Pass from the service uses AUTH PLAIN", async () => {
    const c = await WireClient.connect(ports.smtp!);
    await c.line();
    c.send("EHLO client.example\r\n");
    await c.lines(2);
    c.send(`AUTH XOAUTH2 ${XOAUTH2("me@example.com", "pass-token")}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(lastBackend("smtp").received(), `EHLO mx.example.com\r\nAUTH PLAIN ${b64("\0john\0backend-pw")}\r\n`);
    c.close();
  });

  test("neither the token nor the payload appears in the log", () => {
    const log = proxy.log();
    for (const secret of ["good-token", "bad-token", "pass-token", "backend-pw"]) assert.equal(log.includes(secret), false, secret);
  });
});

describe("XOAUTH2 in passthrough (proxy_pass only)", () => {
  let backend: ScriptedBackend;
  let proxy: RunningProxy;
  let port: number;

  before(async () => {
    backend = await startScriptedBackend(imapBackend);
    port = await freePort();
    proxy = await startProxy(`mail {
      server { listen 127.0.0.1:${port}; protocol imap; imap_auth plain xoauth2; proxy_pass 127.0.0.1:${backend.port}; }
    }`);
  });
  after(async () => {
    await proxy.stop();
    await backend.close();
  });

  test("the backend's own error challenge and refusal reach the client, who may try again", async () => {
    const c = await WireClient.connect(port);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send(`a1 AUTHENTICATE XOAUTH2 ${XOAUTH2("me@example.com", "bad-token")}\r\n`);
    assert.equal(await c.line(), `+ ${BACKEND_CHALLENGE}`);
    // mailproxy already answered the backend's challenge with the dummy response.
    assert.equal(backend.connections[0]!.received(), `a1 AUTHENTICATE XOAUTH2 ${XOAUTH2("me@example.com", "bad-token")}\r\nAQ==\r\n`);
    c.send("AQ==\r\n");
    assert.equal(await c.line(), "a1 NO [AUTHENTICATIONFAILED] backend says no");
    const good = XOAUTH2("me@example.com", "good-token");
    c.send(`a2 AUTHENTICATE XOAUTH2 ${good}\r\n`);
    assert.equal(await c.line(), "a2 OK backend welcomes you");
    assert.equal(backend.connections[1]!.received(), `a2 AUTHENTICATE XOAUTH2 ${good}\r\n`);
    c.close();
  });
});
