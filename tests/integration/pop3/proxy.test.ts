/**
 * POP3 end to end over real sockets: client → mailproxy → scripted auth_http →
 * scripted POP3 backend, with exact lines asserted on every side.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { type AuthServer, defaultAuthHandler, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { proxyFor as proxyForProtocol, type Setup } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, type ScriptedConnection, startScriptedBackend } from "../../support/scripted_backend.ts";
import { makeTestCertificate, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";

const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
const apopDigest = (salt: string, password: string) =>
  crypto.createHash("md5").update(Buffer.from(salt + password, "latin1")).digest("hex");
const cramDigest = (salt: string, password: string) =>
  crypto.createHmac("md5", Buffer.from(password, "latin1")).update(Buffer.from(salt, "latin1")).digest("hex");

const proxyFor = (authUrl: string, extra = "") => proxyForProtocol("pop3", authUrl, extra);

async function greeted(port: number, greeting = "+OK POP3 ready"): Promise<WireClient> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), greeting);
  return c;
}

/** Connect, read a salted greeting, return the client and the salt. */
async function greetedWithSalt(port: number): Promise<{ c: WireClient; salt: string }> {
  const c = await WireClient.connect(port);
  const line = await c.line();
  const match = line.match(/^\+OK POP3 ready (<\d+\.\d+@mx\.example\.com>)$/);
  assert.ok(match, `salted greeting expected, got ${JSON.stringify(line)}`);
  return { c, salt: match[1] };
}

/**
 * A POP3 backend in the style of Dovecot: greets, answers USER/PASS (PASS with
 * `passReply`), then STAT and QUIT (QUIT closes).
 */
function pop3Backend(passReply = "+OK Logged in."): Promise<ScriptedBackend> {
  return startScriptedBackend((b) => {
    b.send("+OK Dovecot ready.\r\n");
    let seen = 0;
    b.socket.on("data", () => {
      const got = b.received();
      const lines = got.slice(seen).split("\r\n");
      const complete = lines.slice(0, -1);
      seen = got.length - lines[lines.length - 1].length;
      for (const line of complete) answer(b, line, passReply);
    });
  });
}

function answer(b: ScriptedConnection, line: string, passReply: string): void {
  const verb = line.split(" ")[0].toUpperCase();
  if (verb === "USER") b.send("+OK\r\n");
  else if (verb === "PASS") b.send(`${passReply}\r\n`);
  else if (verb === "STAT") b.send("+OK 1 42\r\n");
  else if (verb === "QUIT") {
    b.send("+OK Logging out.\r\n");
    b.socket.end();
  } else b.send("-ERR Unknown command\r\n");
}

describe("POP3 through mailproxy", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let plain: Setup;
  let salted: Setup;

  before(async () => {
    backend = await pop3Backend();
    const where = { host: "127.0.0.1", port: backend.port };
    auth = await startAuthServer(defaultAuthHandler({
      alice: { password: "secret", backend: where },
      "john doe": { password: "p%ss word", backend: where },
    }, { wait: 1 }));
    plain = await proxyFor(auth.url, "timeout 5s;");
    salted = await proxyFor(auth.url, "pop3_auth plain apop cram-md5; timeout 5s;");
  });

  after(async () => {
    await plain.proxy.stop();
    await salted.proxy.stop();
    await auth.close();
    await backend.close();
  });

  const lastBackend = () => backend.connections[backend.connections.length - 1];

  test("the greeting has no timestamp when neither APOP nor CRAM-MD5 is enabled, and CAPA lists the defaults", async () => {
    const c = await greeted(plain.port);
    c.send("CAPA\r\n");
    assert.deepEqual(await c.lines(6), [
      "+OK Capability list follows",
      "TOP",
      "USER",
      "UIDL",
      "SASL PLAIN LOGIN",
      ".",
    ]);
    c.send("AUTH\r\n");
    assert.deepEqual(await c.lines(4), ["+OK methods supported:", "PLAIN", "LOGIN", "."]);
    c.send("NOOP\r\nQUIT\r\n");
    assert.equal(await c.rest(), "+OK\r\n+OK\r\n");
  });

  test("with apop and cram-md5 the greeting carries the salt and CAPA and AUTH list CRAM-MD5", async () => {
    const { c } = await greetedWithSalt(salted.port);
    c.send("CAPA\r\n");
    assert.deepEqual(await c.lines(6), [
      "+OK Capability list follows",
      "TOP",
      "USER",
      "UIDL",
      "SASL PLAIN LOGIN CRAM-MD5",
      ".",
    ]);
    c.send("AUTH\r\n");
    assert.deepEqual(await c.lines(5), ["+OK methods supported:", "PLAIN", "LOGIN", "CRAM-MD5", "."]);
    c.close();
  });

  test("USER and PASS reach the backend as USER and PASS lines and the backend's +OK reaches the client", async () => {
    const before = auth.requests.length;
    const c = await greeted(plain.port);
    c.send("USER alice\r\n");
    assert.equal(await c.line(), "+OK");
    c.send("PASS secret\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    const req = auth.requests[before];
    assert.deepEqual(req.headers.slice(0, 7), [
      ["Host", "127.0.0.1"],
      ["Auth-Method", "plain"],
      ["Auth-User", "alice"],
      ["Auth-Pass", "secret"],
      ["Auth-Protocol", "pop3"],
      ["Auth-Login-Attempt", "1"],
      ["Client-IP", "127.0.0.1"],
    ]);
    assert.equal(req.header("Client-Host"), undefined, "POP3 never sends Client-Host");
    assert.equal(lastBackend().received(), "USER alice\r\nPASS secret\r\n");
    c.send("STAT\r\n");
    assert.equal(await c.line(), "+OK 1 42");
    c.close();
  });

  test("USER and PASS take the rest of the line, spaces and percent signs included", async () => {
    const before = auth.requests.length;
    const c = await greeted(plain.port);
    c.send("USER john doe\r\nPASS p%ss word\r\n");
    assert.equal(await c.line(), "+OK");
    assert.equal(await c.line(), "+OK Logged in.");
    assert.equal(auth.requests[before].header("Auth-User"), "john%20doe");
    assert.equal(auth.requests[before].header("Auth-Pass"), "p%25ss%20word");
    assert.equal(lastBackend().received(), "USER john doe\r\nPASS p%ss word\r\n");
    c.close();
  });

  test("the APOP digest of RFC 1939's example is what the auth service checks", () => {
    assert.equal(apopDigest("<1896.697170952@dbc.mtview.ca.us>", "tanstaaf"), "c4c9334bac560ecc979e58001b3e22fb");
  });

  test("APOP sends the digest and salt to the auth service and the backend gets the plaintext it returned", async () => {
    const before = auth.requests.length;
    const { c, salt } = await greetedWithSalt(salted.port);
    const digest = apopDigest(salt, "secret");
    c.send(`APOP alice ${digest}\r\n`);
    assert.equal(await c.line(), "+OK Logged in.");
    const req = auth.requests[before];
    assert.deepEqual(req.headers.slice(1, 7), [
      ["Auth-Method", "apop"],
      ["Auth-User", "alice"],
      ["Auth-Pass", digest],
      ["Auth-Salt", salt],
      ["Auth-Protocol", "pop3"],
      ["Auth-Login-Attempt", "1"],
    ]);
    assert.equal(lastBackend().received(), "USER alice\r\nPASS secret\r\n");
    c.close();
  });

  test("APOP is an invalid command when pop3_auth does not list it", async () => {
    const c = await greeted(plain.port);
    c.send(`APOP alice ${"0".repeat(32)}\r\n`);
    assert.equal(await c.line(), "-ERR invalid command");
    c.close();
  });

  test("AUTH PLAIN without and with an initial response", async () => {
    const c = await greeted(plain.port);
    c.send("AUTH PLAIN\r\n");
    assert.equal(await c.line(), "+ ");
    c.send(b64("\0alice\0secret") + "\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    assert.equal(lastBackend().received(), "USER alice\r\nPASS secret\r\n");
    c.close();
    const d = await greeted(plain.port);
    d.send(`AUTH PLAIN ${b64("ignored\0alice\0secret")}\r\n`);
    assert.equal(await d.line(), "+OK Logged in.");
    d.close();
  });

  test("AUTH LOGIN without and with an initial response", async () => {
    const c = await greeted(plain.port);
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "+ VXNlcm5hbWU6");
    c.send(b64("alice") + "\r\n");
    assert.equal(await c.line(), "+ UGFzc3dvcmQ6");
    c.send(b64("secret") + "\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    c.close();
    const d = await greeted(plain.port);
    d.send(`AUTH LOGIN ${b64("alice")}\r\n`);
    assert.equal(await d.line(), "+ UGFzc3dvcmQ6");
    d.send(b64("secret") + "\r\n");
    assert.equal(await d.line(), "+OK Logged in.");
    d.close();
  });

  test("AUTH CRAM-MD5 challenges with the greeting's salt; the backend gets the password the auth service returned", async () => {
    const before = auth.requests.length;
    const { c, salt } = await greetedWithSalt(salted.port);
    c.send("AUTH CRAM-MD5\r\n");
    assert.equal(await c.line(), `+ ${b64(salt)}`);
    const digest = cramDigest(salt, "secret");
    c.send(b64(`alice ${digest}`) + "\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    const req = auth.requests[before];
    assert.equal(req.header("Auth-Method"), "cram-md5");
    assert.equal(req.header("Auth-Pass"), digest);
    assert.equal(req.header("Auth-Salt"), salt);
    assert.equal(lastBackend().received(), "USER alice\r\nPASS secret\r\n");
    c.close();
  });

  test("the CRAM-MD5 digest of RFC 2195's example is what the auth service checks", () => {
    assert.equal(
      cramDigest("<1896.697170952@postoffice.reston.mci.net>", "tanstaaftanstaaf"),
      "b913a602c7eda7a495b4e6e7334d3890",
    );
  });

  test("AUTH CRAM-MD5 with an initial response, and CRAM-MD5 when not enabled, are invalid", async () => {
    const { c } = await greetedWithSalt(salted.port);
    c.send(`AUTH CRAM-MD5 ${b64("x")}\r\n`);
    assert.equal(await c.line(), "-ERR invalid command");
    c.close();
    const d = await greeted(plain.port);
    d.send("AUTH CRAM-MD5\r\n");
    assert.equal(await d.line(), "-ERR invalid command");
    d.close();
  });

  test("* cancels a SASL exchange with -ERR invalid command and the session goes on", async () => {
    const c = await greeted(plain.port);
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "+ VXNlcm5hbWU6");
    c.send("*\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("AUTH PLAIN\r\n");
    assert.equal(await c.line(), "+ ");
    c.send("*\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("NOOP\r\n");
    assert.equal(await c.line(), "+OK");
    c.close();
  });

  test("PASS before USER and a second USER are invalid and USER must be sent again", async () => {
    const c = await greeted(plain.port);
    c.send("PASS secret\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("USER alice\r\nUSER bob\r\nPASS secret\r\n");
    assert.deepEqual(await c.lines(3), ["+OK", "-ERR invalid command", "-ERR invalid command"]);
    c.close();
  });

  test("a wrong password is answered after Auth-Wait with -ERR and the text, and a second attempt succeeds", async () => {
    const before = auth.requests.length;
    const c = await greeted(plain.port);
    c.send("USER alice\r\nPASS wrong\r\n");
    assert.equal(await c.line(), "+OK");
    assert.equal(await c.line(), "-ERR Invalid login or password");
    c.send("USER alice\r\nPASS secret\r\n");
    assert.deepEqual(await c.lines(2), ["+OK", "+OK Logged in."]);
    assert.deepEqual(auth.requests.slice(before).map((r) => r.attempt), [1, 2]);
    c.close();
  });

  test("commands pipelined behind PASS reach the backend after login", async () => {
    const c = await greeted(plain.port);
    c.send("USER alice\r\nPASS secret\r\nSTAT\r\n");
    assert.deepEqual(await c.lines(3), ["+OK", "+OK Logged in.", "+OK 1 42"]);
    assert.equal(lastBackend().received(), "USER alice\r\nPASS secret\r\nSTAT\r\n");
    c.close();
  });

  test("QUIT relayed to the backend: its last reply reaches the client, then both close", async () => {
    const c = await greeted(plain.port);
    c.send("USER alice\r\nPASS secret\r\n");
    assert.deepEqual(await c.lines(2), ["+OK", "+OK Logged in."]);
    c.send("QUIT\r\n");
    assert.equal(await c.rest(), "+OK Logging out.\r\n");
  });

  test("end of stream from the client closes the backend connection", async () => {
    const c = await greeted(plain.port);
    c.send("USER alice\r\nPASS secret\r\n");
    assert.deepEqual(await c.lines(2), ["+OK", "+OK Logged in."]);
    const b = lastBackend();
    const ended = new Promise<void>((resolve) => b.socket.once("close", () => resolve()));
    c.socket.end();
    await ended;
    assert.equal(b.received(), "USER alice\r\nPASS secret\r\n");
  });

  test("the log has session lines but never a password or digest", () => {
    const log = plain.proxy.log() + salted.proxy.log();
    assert.match(log, /client logged in, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+, login: "alice", upstream: 127\.0\.0\.1:\d+/);
    for (const secret of ["secret", "p%ss", b64("\0alice\0secret"), b64("secret")]) {
      assert.ok(!log.includes(secret), `log leaks ${JSON.stringify(secret)}`);
    }
  });
});

describe("POP3 with STLS offered", () => {
  let cert: TestCertificate;
  let auth: AuthServer;
  before(async () => {
    cert = makeTestCertificate();
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "OK" } }));
  });
  after(async () => {
    await auth.close();
    cert.remove();
  });

  for (const [mode, capa] of [
    ["on", ["TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "STLS"]],
    ["only", ["TOP", "UIDL", "STLS"]],
  ] as const) {
    test(`CAPA with starttls ${mode} lists ${capa.join(", ")}, and after USER never STLS`, async () => {
      const { proxy, port } = await proxyFor(
        auth.url,
        `starttls ${mode}; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};`,
      );
      const c = await greeted(port);
      c.send("CAPA\r\n");
      assert.deepEqual(await c.lines(capa.length + 2), ["+OK Capability list follows", ...capa, "."]);
      if (mode === "on") {
        c.send("USER alice\r\nCAPA\r\n");
        assert.deepEqual(await c.lines(7), ["+OK", "+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "."]);
      } else {
        c.send("USER alice\r\n");
        assert.equal(await c.line(), "-ERR invalid command");
      }
      c.close();
      await proxy.stop();
    });
  }

  test("STLS answers +OK, the client upgrades, and CAPA no longer offers STLS", async () => {
    const { proxy, port } = await proxyFor(
      auth.url,
      `starttls only; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};`,
    );
    const c = await greeted(port);
    c.send("STLS\r\n");
    assert.equal(await c.line(), "+OK");
    const s = await c.startTls({ ca: cert.ca, servername: "localhost" });
    s.send("CAPA\r\n");
    assert.deepEqual(await s.lines(6), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "."]);
    s.close();
    await proxy.stop();
  });

  test("pop3_capabilities replaces the default list", async () => {
    const { proxy, port } = await proxyFor(auth.url, `pop3_capabilities "TOP" "PIPELINING" "UIDL"; pop3_auth plain cram-md5 external;`);
    const { c } = await greetedWithSalt(port);
    c.send("CAPA\r\n");
    assert.deepEqual(await c.lines(6), [
      "+OK Capability list follows",
      "TOP",
      "PIPELINING",
      "UIDL",
      "SASL PLAIN LOGIN CRAM-MD5 EXTERNAL",
      ".",
    ]);
    c.close();
    await proxy.stop();
  });
});

describe("POP3 limits and failures", () => {
  let auth: AuthServer;
  before(async () => {
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login or password" } }));
  });
  after(() => auth.close());

  test("a refusal without Auth-Wait is -ERR with the Auth-Status text, then close", async () => {
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send("USER john\r\n");
    assert.equal(await c.line(), "+OK");
    c.send("PASS wrong\r\n");
    assert.equal(await c.rest(), "-ERR Invalid login or password\r\n");
    await proxy.stop();
  });

  test("a 128-byte command is read; a 129-byte one gets -ERR invalid command and the connection closes", async () => {
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send(`USER ${"x".repeat(121)}\r\n`);
    assert.equal(await c.line(), "+OK");
    c.send("NOOP\r\nUSER again\r\n");
    assert.deepEqual(await c.lines(2), ["+OK", "-ERR invalid command"]);
    c.send(`USER ${"x".repeat(122)}\r\n`);
    assert.equal(await c.rest(), "-ERR invalid command\r\n");
    assert.match(proxy.log(), /client sent too long command/);
    await proxy.stop();
  });

  test("max_errors closes after the limit with the error reply sent", async () => {
    const { proxy, port } = await proxyFor(auth.url, "max_errors 2;");
    const c = await greeted(port);
    c.send("STAT\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("RETR 1\r\n");
    assert.equal(await c.rest(), "-ERR invalid command\r\n");
    assert.match(proxy.log(), /client sent too many invalid commands/);
    await proxy.stop();
  });

  test("a client silent past timeout is closed without a word", async () => {
    const { proxy, port } = await proxyFor(auth.url, "timeout 300ms;");
    const c = await greeted(port);
    assert.equal(await c.rest(5000), "");
    assert.match(proxy.log(), /client timed out/);
    await proxy.stop();
  });

  for (const passError of [false, true]) {
    test(`a backend refusing PASS with proxy_pass_error_message ${passError ? "on" : "off"}`, async () => {
      const backend = await pop3Backend("-ERR [IN-USE] Mailbox locked");
      const ok = await startAuthServer(routeTo(backend.port));
      const { proxy, port } = await proxyFor(ok.url, `proxy_pass_error_message ${passError ? "on" : "off"};`);
      const c = await greeted(port);
      c.send("USER alice\r\nPASS secret\r\n");
      assert.equal(await c.line(), "+OK");
      assert.equal(await c.rest(), passError ? "-ERR [IN-USE] Mailbox locked\r\n" : "-ERR internal server error\r\n");
      assert.match(proxy.log(), /upstream sent invalid response: "-ERR \[IN-USE\] Mailbox locked"/);
      await proxy.stop();
      await ok.close();
      await backend.close();
    });
  }

  test("a backend whose greeting is not +OK gives an internal error", async () => {
    const backend = await startScriptedBackend((b) => b.send("-ERR go away\r\n"));
    const ok = await startAuthServer(routeTo(backend.port));
    const { proxy, port } = await proxyFor(ok.url);
    const c = await greeted(port);
    c.send("USER alice\r\nPASS secret\r\n");
    assert.equal(await c.line(), "+OK");
    assert.equal(await c.rest(), "-ERR internal server error\r\n");
    await proxy.stop();
    await ok.close();
    await backend.close();
  });
});
