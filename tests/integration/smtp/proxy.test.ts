/**
 * SMTP end to end over real sockets: client → mailproxy → scripted auth_http →
 * scripted SMTP backend, with exact lines asserted on every side (protocols.md
 * §5, §6.5, §6.6, §8, §9).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { type AuthReply, type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { proxyFor as proxyForProtocol, type Setup } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort } from "../../support/ports.ts";

const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
const GREETING = "220 mx.example.com ESMTP ready";
const BACKEND_EHLO = "250-mta.internal\r\n250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250 8BITMIME\r\n";

const proxyFor = (authUrl: string, extra = "") => proxyForProtocol("smtp", authUrl, extra);

async function greeted(port: number): Promise<WireClient> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), GREETING);
  return c;
}

interface SmtpBackendOptions {
  /** Reply to XCLIENT (default a fresh greeting, as Postfix does). */
  xclientReply?: string;
  /** Reply to RCPT (default `250 2.1.5 Ok`). */
  rcptReply?: string;
}

/**
 * A Postfix-like SMTP backend: EHLO/HELO, XCLIENT, AUTH, MAIL, RCPT, DATA (the
 * 250 after DATA names the sha256 of the data bytes received), RSET, QUIT.
 */
function smtpBackend(opts: SmtpBackendOptions = {}): Promise<ScriptedBackend> {
  return startScriptedBackend((b) => {
    b.send("220 mta.internal ESMTP Postfix\r\n");
    let seen = 0;
    let dataStart = -1;
    b.socket.on("data", () => {
      const got = b.received();
      while (seen < got.length) {
        if (dataStart >= 0) {
          const end = got.indexOf("\r\n.\r\n", Math.max(dataStart, seen - 4) - 2);
          if (end < 0 || end + 2 < dataStart) {
            seen = got.length;
            break;
          }
          const body = got.slice(dataStart, end + 2);
          const digest = crypto.createHash("sha256").update(Buffer.from(body, "latin1")).digest("hex");
          b.send(`250 2.0.0 Ok: ${body.length} bytes sha256 ${digest}\r\n`);
          seen = end + 5;
          dataStart = -1;
          continue;
        }
        const eol = got.indexOf("\r\n", seen);
        if (eol < 0) break;
        const line = got.slice(seen, eol);
        seen = eol + 2;
        if (answer(b, line, opts)) dataStart = seen;
      }
    });
  });
}

/** Answers one command line; true when DATA was accepted. */
function answer(b: ScriptedConnection, line: string, opts: SmtpBackendOptions): boolean {
  const verb = line.split(" ")[0].toUpperCase();
  switch (verb) {
    case "EHLO":
      b.send(BACKEND_EHLO);
      break;
    case "HELO":
      b.send("250 mta.internal\r\n");
      break;
    case "XCLIENT":
      b.send(opts.xclientReply ?? "220 mta.internal ESMTP Postfix\r\n");
      break;
    case "AUTH":
      b.send("235 2.7.0 Authentication successful\r\n");
      break;
    case "MAIL":
      b.send("250 2.1.0 Ok\r\n");
      break;
    case "RCPT":
      b.send(opts.rcptReply ?? "250 2.1.5 Ok\r\n");
      break;
    case "DATA":
      b.send("354 End data with <CR><LF>.<CR><LF>\r\n");
      return true;
    case "RSET":
      b.send("250 2.0.0 Ok\r\n");
      break;
    case "QUIT":
      b.send("221 2.0.0 Bye\r\n");
      b.socket.end();
      break;
    default:
      b.send("502 5.5.2 Error: command not recognized\r\n");
  }
  return false;
}

function okAuth(port: number): Promise<AuthServer> {
  return startAuthServer(() => ({
    headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(port) },
  }));
}

/** Resolves once the backend has `n` connections and the last one received `text`. */
async function backendGot(backend: ScriptedBackend, n: number, text: string): Promise<ScriptedConnection> {
  while (backend.connections.length < n) await new Promise((r) => setTimeout(r, 10));
  const conn = backend.connections[n - 1];
  await conn.waitFor(text);
  return conn;
}

describe("SMTP through mailproxy with xclient on", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let setup: Setup;

  before(async () => {
    backend = await smtpBackend();
    const where = { host: "127.0.0.1", port: backend.port };
    auth = await startAuthServer(defaultAuthHandler({
      alice: { password: "secret", backend: where },
      "jo hn+x=y\u00e9": { password: "pw", backend: where },
    }, { wait: 1 }));
    setup = await proxyFor(auth.url, `smtp_auth plain login cram-md5; smtp_capabilities "SIZE 10485760" 8BITMIME; timeout 5s;`);
  });

  after(async () => {
    await setup.proxy.stop();
    await auth.close();
    await backend.close();
  });

  const last = () => backend.connections[backend.connections.length - 1];

  test("EHLO lists server_name, smtp_capabilities and the AUTH line; HELO is one line; a bad EHLO is 501", async () => {
    const c = await greeted(setup.port);
    c.send("EHLO client.example.org\r\n");
    assert.deepEqual(await c.lines(4), [
      "250-mx.example.com",
      "250-SIZE 10485760",
      "250-8BITMIME",
      "250 AUTH PLAIN LOGIN CRAM-MD5",
    ]);
    c.send("HELO client.example.org\r\n");
    assert.equal(await c.line(), "250 mx.example.com");
    c.send("EHLO\r\nEHLO a b\r\n");
    assert.deepEqual(await c.lines(2), ["501 5.5.4 Invalid argument", "501 5.5.4 Invalid argument"]);
    c.send("NOOP\r\nRSET\r\nVRFY alice\r\nMAIL FROM:<a@b.example>\r\nAUTH\r\nQUIT\r\n");
    assert.equal(
      await c.rest(),
      "250 2.0.0 OK\r\n250 2.0.0 OK\r\n500 5.5.1 Invalid command\r\n530 5.7.1 Authentication required\r\n" +
        "501 5.5.4 Invalid argument\r\n221 2.0.0 Bye\r\n",
    );
  });

  test("AUTH PLAIN with an initial response: 235 2.0.0 OK, XCLIENT as the backend received it, then MAIL/RCPT/DATA relayed", async () => {
    const before = auth.requests.length;
    const c = await greeted(setup.port);
    c.send("EHLO client.example.org\r\n");
    await c.lines(4);
    c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(
      last().received(),
      "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]\r\nEHLO client.example.org\r\n",
    );
    const req = auth.requests[before];
    assert.deepEqual(req.headers.slice(1, 8), [
      ["Auth-Method", "plain"],
      ["Auth-User", "alice"],
      ["Auth-Pass", "secret"],
      ["Auth-Protocol", "smtp"],
      ["Auth-Login-Attempt", "1"],
      ["Client-IP", "127.0.0.1"],
      ["Client-Host", "[UNAVAILABLE]"],
    ]);
    c.send("MAIL FROM:<alice@example.com>\r\n");
    assert.equal(await c.line(), "250 2.1.0 Ok");
    c.send("RCPT TO:<bob@example.org>\r\n");
    assert.equal(await c.line(), "250 2.1.5 Ok");
    c.send("DATA\r\n");
    assert.equal(await c.line(), "354 End data with <CR><LF>.<CR><LF>");
    const body = "Subject: hi\r\n\r\nhello\r\n";
    c.send(`${body}.\r\n`);
    const digest = crypto.createHash("sha256").update(body).digest("hex");
    assert.equal(await c.line(), `250 2.0.0 Ok: ${body.length} bytes sha256 ${digest}`);
    c.send("QUIT\r\n");
    assert.equal(await c.rest(), "221 2.0.0 Bye\r\n");
  });

  test("AUTH PLAIN without an initial response gets an empty 334 challenge", async () => {
    const c = await greeted(setup.port);
    c.send("AUTH PLAIN\r\n");
    assert.equal(await c.line(), "334 ");
    c.send(b64("alice\0alice\0secret") + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(last().received(), "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]\r\n");
    c.close();
  });

  test("AUTH LOGIN without and with an initial response; a client that said HELO is replayed as HELO", async () => {
    const c = await greeted(setup.port);
    c.send("HELO old.example\r\n");
    assert.equal(await c.line(), "250 mx.example.com");
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "334 VXNlcm5hbWU6");
    c.send(b64("alice") + "\r\n");
    assert.equal(await c.line(), "334 UGFzc3dvcmQ6");
    c.send(b64("secret") + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(
      last().received(),
      "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]\r\nHELO old.example\r\n",
    );
    c.close();
    const d = await greeted(setup.port);
    d.send(`AUTH LOGIN ${b64("alice")}\r\n`);
    assert.equal(await d.line(), "334 UGFzc3dvcmQ6");
    d.send(b64("secret") + "\r\n");
    assert.equal(await d.line(), "235 2.0.0 OK");
    d.close();
  });

  test("AUTH CRAM-MD5 challenges with base64 of the salt and the auth service checks the digest", async () => {
    const before = auth.requests.length;
    const c = await greeted(setup.port);
    c.send("AUTH CRAM-MD5\r\n");
    const challenge = await c.line();
    assert.match(challenge, /^334 [A-Za-z0-9+/=]+$/);
    const salt = Buffer.from(challenge.slice(4), "base64").toString("latin1");
    assert.match(salt, /^<\d+\.\d+@mx\.example\.com>$/);
    const digest = crypto.createHmac("md5", "secret").update(salt).digest("hex");
    c.send(b64(`alice ${digest}`) + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    const req = auth.requests[before];
    assert.equal(req.header("Auth-Method"), "cram-md5");
    assert.equal(req.header("Auth-Salt"), salt);
    assert.equal(req.header("Auth-Pass"), digest);
    c.close();
  });

  test("* cancels a SASL exchange with 500 5.5.1 Invalid command", async () => {
    const c = await greeted(setup.port);
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "334 VXNlcm5hbWU6");
    c.send("*\r\n");
    assert.equal(await c.line(), "500 5.5.1 Invalid command");
    c.send("NOOP\r\n");
    assert.equal(await c.line(), "250 2.0.0 OK");
    c.close();
  });

  test("XCLIENT LOGIN is xtext-encoded", async () => {
    const c = await greeted(setup.port);
    const user = Buffer.from("jo hn+x=y\u00e9", "utf8").toString("latin1");
    c.send(`AUTH PLAIN ${b64(`\0${user}\0pw`)}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(
      last().received(),
      "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 LOGIN=jo+20hn+2Bx+3Dy+C3+A9 NAME=[UNAVAILABLE]\r\n",
    );
    c.close();
  });

  test("a wrong password gets 535 5.7.0 and the Auth-Status text after Auth-Wait, and the session goes on", async () => {
    const c = await greeted(setup.port);
    c.send(`AUTH PLAIN ${b64("\0alice\0wrong")}\r\n`);
    assert.equal(await c.line(), "535 5.7.0 Invalid login or password");
    c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    c.close();
  });

  test("commands pipelined behind AUTH reach the backend once the relay starts", async () => {
    const c = await greeted(setup.port);
    c.send(`EHLO c.example\r\nAUTH PLAIN ${b64("\0alice\0secret")}\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n`);
    assert.deepEqual(await c.lines(7), [
      "250-mx.example.com",
      "250-SIZE 10485760",
      "250-8BITMIME",
      "250 AUTH PLAIN LOGIN CRAM-MD5",
      "235 2.0.0 OK",
      "250 2.1.0 Ok",
      "250 2.1.5 Ok",
    ]);
    assert.ok(last().received().endsWith("EHLO c.example\r\nMAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\n"));
    c.close();
  });

  test("a 20 MiB DATA is relayed byte-exact", async () => {
    const c = await greeted(setup.port);
    c.send(`EHLO c.example\r\nAUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
    await c.lines(5);
    c.send("MAIL FROM:<alice@example.com>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n");
    assert.deepEqual(await c.lines(3), ["250 2.1.0 Ok", "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>"]);
    // base64 text in 76-character lines: no line starts with a dot, so no dot-stuffing.
    const raw = crypto.randomBytes(15 * 1024 * 1024).toString("base64").replace(/.{76}/g, "$&\r\n");
    const body = Buffer.from(`Subject: big\r\n\r\n${raw}\r\n`, "latin1");
    assert.ok(body.length >= 20 * 1024 * 1024);
    const digest = crypto.createHash("sha256").update(body).digest("hex");
    c.send(body);
    c.send(".\r\n");
    assert.equal(await c.line(60_000), `250 2.0.0 Ok: ${body.length} bytes sha256 ${digest}`);
    c.close();
  });

  test("the log has session lines but never a password", () => {
    const log = setup.proxy.log();
    assert.match(log, /client logged in, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+, login: "alice", upstream: 127\.0\.0\.1:\d+/);
    for (const secret of ["secret", b64("\0alice\0secret"), b64("secret")]) {
      assert.ok(!log.includes(secret), `log leaks ${JSON.stringify(secret)}`);
    }
  });
});

describe("SMTP backend login variants", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  before(async () => {
    backend = await smtpBackend();
    auth = await okAuth(backend.port);
  });
  after(async () => {
    await auth.close();
    await backend.close();
  });

  for (const [hello, expected] of [
    ["EHLO c.example", "EHLO mx.example.com\r\n"],
    ["HELO c.example", "HELO mx.example.com\r\n"],
  ] as const) {
    test(`xclient off after ${hello.slice(0, 4)}: the backend gets only ${expected.trim()}`, async () => {
      const { proxy, port } = await proxyFor(auth.url, "xclient off;");
      const n = backend.connections.length;
      const c = await greeted(port);
      c.send(`${hello}\r\n`);
      while (!(await c.line()).startsWith("250 ")) { /* the whole HELO/EHLO reply */ }
      c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
      assert.equal(await c.line(), "235 2.0.0 OK");
      c.send("MAIL FROM:<a@b.example>\r\n");
      assert.equal(await c.line(), "250 2.1.0 Ok");
      assert.equal(backend.connections[n].received(), `${expected}MAIL FROM:<a@b.example>\r\n`);
      c.close();
      await proxy.stop();
    });
  }

  test("proxy_smtp_auth on sends AUTH PLAIN with the user's credentials and XCLIENT without LOGIN", async () => {
    const { proxy, port } = await proxyFor(auth.url, "proxy_smtp_auth on;");
    const n = backend.connections.length;
    const c = await greeted(port);
    c.send(`EHLO c.example\r\n`);
    await c.lines(2);
    c.send(`AUTH LOGIN ${b64("alice")}\r\n`);
    assert.equal(await c.line(), "334 UGFzc3dvcmQ6");
    c.send(b64("secret") + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    assert.equal(
      backend.connections[n].received(),
      "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nEHLO c.example\r\n" +
        `AUTH PLAIN ${b64("\0alice\0secret")}\r\n`,
    );
    c.close();
    await proxy.stop();
  });

  test("proxy_smtp_auth after CRAM-MD5 without Auth-Pass is an internal error; the digest never reaches the backend", async () => {
    const { proxy, port } = await proxyFor(auth.url, "proxy_smtp_auth on; smtp_auth plain cram-md5;");
    const n = backend.connections.length;
    const c = await greeted(port);
    c.send("AUTH CRAM-MD5\r\n");
    const salt = Buffer.from((await c.line()).slice(4), "base64").toString("latin1");
    const digest = crypto.createHmac("md5", "secret").update(salt).digest("hex");
    c.send(b64(`alice ${digest}`) + "\r\n");
    assert.equal(await c.rest(), "451 4.3.2 Internal server error\r\n");
    const got = backend.connections[n]?.received() ?? "";
    assert.ok(!got.includes("AUTH"), `backend got ${JSON.stringify(got)}`);
    await proxy.stop();
  });

  for (const passError of [false, true]) {
    test(`a backend refusing XCLIENT with proxy_pass_error_message ${passError ? "on" : "off"}`, async () => {
      const refusing = await smtpBackend({ xclientReply: "550 5.7.0 Error: insufficient authorization\r\n" });
      const refusingAuth = await okAuth(refusing.port);
      const { proxy, port } = await proxyFor(refusingAuth.url, `proxy_pass_error_message ${passError ? "on" : "off"};`);
      const c = await greeted(port);
      c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
      assert.equal(
        await c.rest(),
        passError ? "550 5.7.0 Error: insufficient authorization\r\n" : "451 4.3.2 Internal server error\r\n",
      );
      assert.match(proxy.log(), /upstream sent invalid response: "550 5\.7\.0 Error: insufficient authorization"/);
      await proxy.stop();
      await refusingAuth.close();
      await refusing.close();
    });
  }
});

describe("SMTP with smtp_auth none", () => {
  let backend: ScriptedBackend;
  before(async () => {
    backend = await smtpBackend({ rcptReply: "250 2.1.5 Recipient ok\r\n" });
  });
  after(() => backend.close());

  test("MAIL is stored, RCPT asks the auth service with Auth-SMTP-Helo/From/To, and the backend's RCPT reply is forwarded", async () => {
    const auth = await startAuthServer(defaultAuthHandler({}, { noneBackend: { host: "127.0.0.1", port: backend.port } }));
    const { proxy, port } = await proxyFor(auth.url, "smtp_auth none; xclient off;");
    const n = backend.connections.length;
    const c = await greeted(port);
    c.send("EHLO sender.example\r\n");
    assert.equal(await c.line(), "250 mx.example.com");
    c.send("RCPT TO:<bob@example.com>\r\n");
    assert.equal(await c.line(), "503 5.5.1 Bad sequence of commands");
    c.send("MAIL FROM:<a@sender.example>  SIZE=1000  \r\n");
    assert.equal(await c.line(), "250 2.0.0 OK");
    c.send("MAIL FROM:<other@sender.example>\r\n");
    assert.equal(await c.line(), "503 5.5.1 Bad sequence of commands");
    c.send("RCPT TO:<bob@example.com>\r\n");
    assert.equal(await c.line(), "250 2.1.5 Recipient ok");
    const req = auth.requests[0];
    assert.deepEqual(req.headers.slice(1, 11), [
      ["Auth-Method", "none"],
      ["Auth-User", ""],
      ["Auth-Pass", ""],
      ["Auth-Protocol", "smtp"],
      ["Auth-Login-Attempt", "1"],
      ["Client-IP", "127.0.0.1"],
      ["Client-Host", "[UNAVAILABLE]"],
      ["Auth-SMTP-Helo", "sender.example"],
      ["Auth-SMTP-From", "MAIL FROM:<a@sender.example>  SIZE=1000"],
      ["Auth-SMTP-To", "RCPT TO:<bob@example.com>"],
    ]);
    assert.equal(
      backend.connections[n].received(),
      "EHLO mx.example.com\r\nMAIL FROM:<a@sender.example>  SIZE=1000\r\nRCPT TO:<bob@example.com>\r\n",
    );
    c.send("DATA\r\n");
    assert.equal(await c.line(), "354 End data with <CR><LF>.<CR><LF>");
    c.close();
    await proxy.stop();
    await auth.close();
  });

  test("a HELO client with xclient on gets XCLIENT without LOGIN, then its HELO replayed before MAIL and RCPT", async () => {
    const auth = await okAuth(backend.port);
    const { proxy, port } = await proxyFor(auth.url, "smtp_auth none;");
    const n = backend.connections.length;
    const c = await greeted(port);
    c.send("HELO sender.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@example.com>\r\n");
    assert.deepEqual(await c.lines(3), ["250 mx.example.com", "250 2.0.0 OK", "250 2.1.5 Recipient ok"]);
    assert.equal(
      backend.connections[n].received(),
      "EHLO mx.example.com\r\nXCLIENT ADDR=127.0.0.1 NAME=[UNAVAILABLE]\r\nHELO sender.example\r\n" +
        "MAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@example.com>\r\n",
    );
    c.close();
    await proxy.stop();
    await auth.close();
  });

  test("the auth service refusing relay with Auth-Error-Code: that code and text, then close", async () => {
    const auth = await startAuthServer(() => ({
      headers: { "Auth-Status": "Relay denied", "Auth-Error-Code": "550 5.7.1" },
    }));
    const { proxy, port } = await proxyFor(auth.url, "smtp_auth none;");
    const c = await greeted(port);
    c.send("HELO sender.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@example.com>\r\n");
    assert.equal(await c.rest(), "250 mx.example.com\r\n250 2.0.0 OK\r\n550 5.7.1 Relay denied\r\n");
    await proxy.stop();
    await auth.close();
  });

  test("a refusal with Auth-Wait keeps the session, the stored MAIL and the HELO for the next RCPT", async () => {
    let calls = 0;
    const auth = await startAuthServer((): AuthReply =>
      ++calls === 1
        ? { headers: { "Auth-Status": "Try later", "Auth-Error-Code": "451 4.7.1", "Auth-Wait": "1" } }
        : { headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(backend.port) } }
    );
    const { proxy, port } = await proxyFor(auth.url, "smtp_auth none; xclient off;");
    const c = await greeted(port);
    c.send("HELO sender.example\r\nMAIL FROM:<a@sender.example>\r\nRCPT TO:<bob@example.com>\r\n");
    assert.deepEqual(await c.lines(3), ["250 mx.example.com", "250 2.0.0 OK", "451 4.7.1 Try later"]);
    c.send("RCPT TO:<carol@example.com>\r\n");
    assert.equal(await c.line(), "250 2.1.5 Recipient ok");
    assert.equal(auth.requests[1].header("Auth-SMTP-From"), "MAIL FROM:<a@sender.example>");
    assert.equal(auth.requests[1].header("Auth-SMTP-To"), "RCPT TO:<carol@example.com>");
    assert.equal(auth.requests[1].header("Auth-SMTP-Helo"), "sender.example");
    assert.equal(auth.requests[1].attempt, 2);
    c.close();
    await proxy.stop();
    await auth.close();
  });

  test("the EHLO reply with only smtp_auth none is the server name alone", async () => {
    const auth = await okAuth(backend.port);
    const { proxy, port } = await proxyFor(auth.url, "smtp_auth none;");
    const c = await greeted(port);
    c.send("EHLO x.example\r\n");
    assert.equal(await c.line(), "250 mx.example.com");
    c.close();
    await proxy.stop();
    await auth.close();
  });
});

describe("SMTP greeting delay, limits and failures", () => {
  let auth: AuthServer;
  before(async () => {
    auth = await startAuthServer(() => ({
      headers: { "Auth-Status": "Authentication credentials invalid", "Auth-Error-Code": "535 5.7.8" },
    }));
  });
  after(() => auth.close());

  test("a client that talks before the delayed greeting gets 503 5.5.0 and the connection closes", async () => {
    const { proxy, port } = await proxyFor(auth.url, "smtp_greeting_delay 500ms;");
    const c = await WireClient.connect(port);
    c.send("EHLO spammer\r\n");
    assert.equal(await c.rest(), "503 5.5.0 Improper use of SMTP command pipelining\r\n");
    assert.match(proxy.log(), /client was rejected before greeting/);
    await proxy.stop();
  });

  test("the refusal comes at the first early byte, as in nginx, not after the whole delay", async () => {
    const { proxy, port } = await proxyFor(auth.url, "smtp_greeting_delay 60s;");
    const c = await WireClient.connect(port);
    c.send("E");
    assert.equal(await c.rest(10_000), "503 5.5.0 Improper use of SMTP command pipelining\r\n");
    await proxy.stop();
  });

  test("a client that waits for the delayed greeting is served normally", async () => {
    const { proxy, port } = await proxyFor(auth.url, "smtp_greeting_delay 300ms;");
    const c = await WireClient.connect(port);
    assert.equal(await c.line(), GREETING);
    c.send("EHLO patient.example\r\n");
    assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
    c.close();
    await proxy.stop();
  });

  test("without a greeting delay, bytes sent early are processed as commands after the greeting", async () => {
    const { proxy, port } = await proxyFor(auth.url);
    const c = await WireClient.connect(port);
    c.send("NOOP\r\n");
    assert.deepEqual(await c.lines(2), [GREETING, "250 2.0.0 OK"]);
    c.close();
    await proxy.stop();
  });

  test("Auth-Error-Code replaces 535 5.7.0 in a refusal without Auth-Wait, then close", async () => {
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send(`AUTH PLAIN ${b64("\0alice\0wrong")}\r\n`);
    assert.equal(await c.rest(), "535 5.7.8 Authentication credentials invalid\r\n");
    await proxy.stop();
  });

  test("max_errors closes after the limit with the error reply sent", async () => {
    const { proxy, port } = await proxyFor(auth.url, "max_errors 3;");
    const c = await greeted(port);
    c.send("DATA\r\nXCLIENT ADDR=1.2.3.4\r\n");
    assert.deepEqual(await c.lines(2), ["500 5.5.1 Invalid command", "500 5.5.1 Invalid command"]);
    c.send("VRFY x\r\n");
    assert.equal(await c.line(), "500 5.5.1 Invalid command", "VRFY is not counted");
    c.send("BDAT 10\r\n");
    assert.equal(await c.rest(), "500 5.5.1 Invalid command\r\n");
    assert.match(proxy.log(), /client sent too many invalid commands/);
    await proxy.stop();
  });

  test("a line longer than smtp_client_buffer gets 500 5.5.1 and the connection closes", async () => {
    const { proxy, port } = await proxyFor(auth.url, "smtp_client_buffer 64;");
    const c = await greeted(port);
    c.send(`HELO ${"h".repeat(57)}\r\n`);
    assert.equal(await c.line(), "250 mx.example.com", "64 bytes with CRLF fit");
    c.send(`HELO ${"h".repeat(58)}\r\n`);
    assert.equal(await c.rest(), "500 5.5.1 Invalid command\r\n");
    assert.match(proxy.log(), /client sent too long command/);
    await proxy.stop();
  });

  test("a client silent past timeout is closed without a word", async () => {
    const { proxy, port } = await proxyFor(auth.url, "timeout 300ms;");
    const c = await greeted(port);
    assert.equal(await c.rest(5000), "");
    assert.match(proxy.log(), /client timed out/);
    await proxy.stop();
  });

  test("an auth service that is down gives 451 4.3.2 Internal server error", async () => {
    const down = await freePort();
    const { proxy, port } = await proxyFor(`http://127.0.0.1:${down}/auth`);
    const c = await greeted(port);
    c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
    assert.equal(await c.rest(), "451 4.3.2 Internal server error\r\n");
    await proxy.stop();
  });

  test("end of stream from the backend flushes its last reply, then closes the client", async () => {
    const backend = await smtpBackend();
    const ok = await okAuth(backend.port);
    const { proxy, port } = await proxyFor(ok.url, "xclient off;");
    const c = await greeted(port);
    c.send(`AUTH PLAIN ${b64("\0alice\0secret")}\r\n`);
    assert.equal(await c.line(), "235 2.0.0 OK");
    c.send("QUIT\r\n");
    assert.equal(await c.rest(), "221 2.0.0 Bye\r\n");
    await backendGot(backend, 1, "QUIT\r\n");
    await proxy.stop();
    await ok.close();
    await backend.close();
  });
});
