/**
 * TLS from mailproxy to the backend (beyond nginx): proxy_ssl (implicit TLS),
 * proxy_starttls and the per-login Auth-SSL-Upstream header, with verification on:
 * a good certificate passes, a wrong name or a self-signed certificate fails with the
 * internal error line and a clear log line.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type DovecotBackend, makeTestCertificate, startDovecot, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { type AuthServer, startAuthServer } from "../../support/auth_server.ts";
import { makeTestPki, type TestPki } from "../../support/pki.ts";
import { startTlsPop3Backend, type TlsPop3Backend } from "../../support/tls_backend.ts";
import { decideAuthResponse } from "../../../src/auth/response.ts";

describe("Auth-SSL-Upstream in the auth answer", () => {
  const ctx = { protocol: "imap" as const, method: "plain" as const, peer: "127.0.0.1:9000" };
  const ok = (...extra: Array<[string, string]>) => ({
    statusLine: "HTTP/1.0 200 OK",
    headers: [["Auth-Status", "OK"], ["Auth-Server", "127.0.0.1"], ["Auth-Port", "993"], ...extra] as Array<[string, string]>,
  });
  test("on, starttls and off (any case) become the login's TLS mode; absent, the server's settings apply", () => {
    for (const [value, mode] of [["ON", "on"], ["StartTLS", "starttls"], ["off", "off"]]) {
      assert.deepEqual(decideAuthResponse(ok(["Auth-SSL-Upstream", value!]), ctx), {
        type: "ok",
        server: "127.0.0.1",
        port: 993,
        sslUpstream: mode,
      });
    }
    assert.deepEqual(decideAuthResponse(ok(), ctx), { type: "ok", server: "127.0.0.1", port: 993 });
  });
  test("another value is the auth service's error", () => {
    assert.deepEqual(decideAuthResponse(ok(["Auth-SSL-Upstream", "yes"]), ctx), {
      type: "internal",
      reason: 'auth http server 127.0.0.1:9000 sent invalid SSL upstream switch:"yes"',
    });
  });
});

describe("TLS to the backend", () => {
  let pki: TestPki;
  let implicit: TlsPop3Backend;
  let selfSigned: TlsPop3Backend;
  let stls: TlsPop3Backend;
  let auth: AuthServer;
  let proxy: RunningProxy;
  const ports: Record<string, number> = {};

  before(async () => {
    pki = makeTestPki();
    implicit = await startTlsPop3Backend(pki.ecCert, pki.ecKey, "ssl");
    selfSigned = await startTlsPop3Backend(pki.malloryCert, pki.malloryKey, "ssl");
    stls = await startTlsPop3Backend(pki.ecCert, pki.ecKey, "stls");
    // The user name picks the backend; "starttls-*" users get Auth-SSL-Upstream: starttls.
    const backends: Record<string, number> = {
      good: implicit.port,
      mallory: selfSigned.port,
      stls: stls.port,
      "starttls-user": stls.port,
    };
    auth = await startAuthServer((req) => {
      const port = backends[req.user];
      if (port === undefined) return { headers: { "Auth-Status": "Invalid login or password" } };
      const headers: Record<string, string> = { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(port) };
      if (req.user === "starttls-user") headers["Auth-SSL-Upstream"] = "STARTTLS";
      return { headers };
    });
    for (const name of ["verify", "wrongName", "starttls", "perLogin"]) ports[name] = await freePort();
    const verify = `proxy_ssl_verify on; proxy_ssl_trusted_certificate ${pki.caFile};`;
    proxy = await startProxy(`mail {
      auth_http ${auth.url};
      timeout 5s;
      server { listen 127.0.0.1:${ports.verify}; protocol pop3; proxy_ssl on; ${verify}
        proxy_ssl_name localhost; proxy_ssl_server_name on; }
      server { listen 127.0.0.1:${ports.wrongName}; protocol pop3; proxy_ssl on; ${verify} proxy_ssl_name mail.example.org; }
      server { listen 127.0.0.1:${ports.starttls}; protocol pop3; proxy_starttls on; ${verify} }
      server { listen 127.0.0.1:${ports.perLogin}; protocol pop3; ${verify} }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    await implicit.close();
    await selfSigned.close();
    await stls.close();
    pki.remove();
  });

  async function login(port: number, user: string): Promise<string> {
    const c = await WireClient.connect(port);
    assert.equal(await c.line(), "+OK POP3 ready");
    c.send(`USER ${user}\r\nPASS secret\r\n`);
    assert.equal(await c.line(), "+OK");
    const answer = await c.line();
    c.close();
    return answer;
  }

  const logLines = (needle: string) => proxy.log().split("\n").filter((l) => l.includes(needle));

  test("proxy_ssl on with verification: a certificate from the trusted CA for the name logs in over TLS, with SNI", async () => {
    const before = implicit.sessions.length;
    assert.equal(await login(ports.verify!, "good"), "+OK backend logged in");
    const session = implicit.sessions[before]!;
    assert.deepEqual(session.lines, ["USER good", "PASS secret"]);
    assert.equal(session.serverName, "localhost");
  });

  test("a certificate that does not carry proxy_ssl_name fails with the internal error line and a clear log line", async () => {
    assert.equal(await login(ports.wrongName!, "good"), "-ERR internal server error");
    assert.equal(
      logLines('upstream SSL certificate does not match "mail.example.org" while SSL handshaking to upstream').length,
      1,
      proxy.log(),
    );
  });

  test("a self-signed backend certificate fails verification with OpenSSL's reason in the log", async () => {
    const before = selfSigned.sessions.length;
    assert.equal(await login(ports.verify!, "mallory"), "-ERR internal server error");
    assert.equal(
      logLines("upstream SSL certificate verify error: (18:self-signed certificate) while SSL handshaking to upstream").length,
      1,
      proxy.log(),
    );
    // The credentials never reached the unverified backend.
    assert.deepEqual(selfSigned.sessions[before]!.lines, []);
  });

  test("proxy_starttls on: STLS in plaintext, then USER and PASS only over TLS", async () => {
    const before = stls.sessions.length;
    assert.equal(await login(ports.starttls!, "stls"), "+OK backend logged in");
    const session = stls.sessions[before]!;
    assert.deepEqual(session.plainLines, ["STLS"]);
    assert.deepEqual(session.lines, ["USER stls", "PASS secret"]);
  });

  test("Auth-SSL-Upstream: starttls asks for STLS for one login on a server without proxy_starttls", async () => {
    const before = stls.sessions.length;
    assert.equal(await login(ports.perLogin!, "starttls-user"), "+OK backend logged in");
    const session = stls.sessions[before]!;
    assert.deepEqual(session.plainLines, ["STLS"]);
    assert.deepEqual(session.lines, ["USER starttls-user", "PASS secret"]);
  });

  test("without proxy_ssl, proxy_starttls or the header, the backend is spoken to in plaintext", async () => {
    const before = stls.sessions.length;
    assert.equal(await login(ports.perLogin!, "stls"), "+OK backend logged in");
    assert.deepEqual(stls.sessions[before]!.plainLines, ["USER stls", "PASS secret"]);
  });
});

describe("STARTTLS to a real Dovecot that refuses plaintext logins", () => {
  let cert: TestCertificate;
  let dovecot: DovecotBackend;
  let auth: AuthServer;
  let proxy: RunningProxy;
  const ports: Record<string, number> = {};

  before(async () => {
    cert = makeTestCertificate();
    dovecot = await startDovecot({
      users: [{ user: "alice", password: "secret", messages: ["Subject: hi\r\n\r\nbody\r\n"] }],
      sieve: true,
      // Later settings win: TLS on, and no login before it, so only STARTTLS lets the proxy in.
      extraConf: `ssl = yes\nssl_cert = <${cert.certFile}\nssl_key = <${cert.keyFile}\ndisable_plaintext_auth = yes\n`,
    });
    auth = await startAuthServer((req) => ({
      headers: {
        "Auth-Status": "OK",
        "Auth-Server": "127.0.0.1",
        "Auth-Port": String({ imap: dovecot.imapPort, pop3: dovecot.pop3Port, sieve: dovecot.sievePort }[req.protocol]),
      },
    }));
    ports.imap = await freePort();
    ports.pop3 = await freePort();
    ports.sieve = await freePort();
    const tls = `proxy_starttls on; proxy_ssl_verify on; proxy_ssl_trusted_certificate ${cert.caFile}; proxy_ssl_name localhost;`;
    proxy = await startProxy(`mail {
      auth_http ${auth.url};
      timeout 10s;
      ${tls}
      server { listen 127.0.0.1:${ports.imap}; protocol imap; }
      server { listen 127.0.0.1:${ports.pop3}; protocol pop3; }
      server { listen 127.0.0.1:${ports.sieve}; protocol sieve; }
    }`);
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    await dovecot.stop();
    cert.remove();
  });

  test("IMAP: the proxy upgrades with STARTTLS, logs in, and the client reads its mailbox", async () => {
    const c = await WireClient.connect(ports.imap!);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN alice secret\r\n");
    assert.match(await c.line(), /^a1 OK /, await dovecot.log());
    c.send("a2 SELECT INBOX\r\n");
    const selected: string[] = [];
    while (!selected[selected.length - 1]?.startsWith("a2 ")) selected.push(await c.line());
    assert.ok(selected.includes("* 1 EXISTS"), selected.join("\n"));
    assert.match(selected[selected.length - 1]!, /^a2 OK /);
    c.close();
    assert.match(await dovecot.log(), /imap-login: Info: Login: user=<alice>, .*, TLS,/);
  });

  test("POP3: the proxy upgrades with STLS, logs in, and the client lists the message", async () => {
    const c = await WireClient.connect(ports.pop3!);
    assert.equal(await c.line(), "+OK POP3 ready");
    c.send("USER alice\r\nPASS secret\r\n");
    assert.equal(await c.line(), "+OK");
    assert.match(await c.line(), /^\+OK /, await dovecot.log());
    c.send("STAT\r\n");
    assert.match(await c.line(), /^\+OK 1 \d+$/);
    c.close();
    assert.match(await dovecot.log(), /pop3-login: Info: Login: user=<alice>, .*, TLS,/);
  });

  test("ManageSieve: the proxy upgrades with STARTTLS, reads the re-issued capabilities, logs in, and the client lists the scripts", async () => {
    const c = await WireClient.connect(ports.sieve!);
    while ((await c.line()) !== 'OK "ManageSieve ready."');
    c.send(`AUTHENTICATE "PLAIN" "${Buffer.from("\0alice\0secret").toString("base64")}"\r\n`);
    assert.equal(await c.line(), 'OK "Logged in."', await dovecot.log());
    c.send("LISTSCRIPTS\r\n");
    assert.equal(await c.line(), 'OK "Listscripts completed."');
    c.close();
    assert.match(await dovecot.log(), /managesieve-login: Info: Login: user=<alice>, .*, TLS,/);
  });
});
