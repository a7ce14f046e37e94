/**
 * IMAP end to end over real sockets: client → mailproxy → scripted auth_http →
 * backend, with exact lines asserted on every side.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { type AuthServer, defaultAuthHandler, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";
import { proxyFor as proxyForProtocol, type Setup } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { startScriptedBackend } from "../../support/scripted_backend.ts";
import { freePort } from "../../support/ports.ts";

const MESSAGE = "Subject: hello\r\n\r\nbody of the message\r\n";

const proxyFor = (authUrl: string, extra = "") => proxyForProtocol("imap", authUrl, extra);

async function greeted(port: number): Promise<WireClient> {
  const c = await WireClient.connect(port);
  assert.equal(await c.line(), "* OK IMAP4 ready");
  return c;
}

describe("IMAP through mailproxy", () => {
  let backend: DemoImapServer;
  let auth: AuthServer;
  let setup: Setup;

  before(async () => {
    backend = await startDemoImap({
      john: { password: 'pa ss"word', messages: [MESSAGE] },
      alice: { password: "secret", messages: [MESSAGE] },
    });
    auth = await startAuthServer(defaultAuthHandler({
      john: { password: 'pa ss"word', backend: { host: "127.0.0.1", port: backend.port } },
      alice: { password: "secret", backend: { host: "127.0.0.1", port: backend.port } },
    }, { wait: 1 }));
    setup = await proxyFor(auth.url, "imap_auth plain login cram-md5; timeout 5s;");
  });

  after(async () => {
    await setup.proxy.stop();
    await auth.close();
    await backend.close();
  });

  test("CAPABILITY lists the configured words and AUTH= mechanisms", async () => {
    const c = await greeted(setup.port);
    c.send("a1 CAPABILITY\r\n");
    assert.deepEqual(await c.lines(2), [
      "* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5",
      "a1 OK completed",
    ]);
    c.close();
  });

  test("LOGIN with quoted strings reaches the backend as literals and the backend's OK reaches the client", async () => {
    const before = auth.requests.length;
    const c = await greeted(setup.port);
    c.send('a2 LOGIN "john" "pa ss\\"word"\r\n');
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    const req = auth.requests[before];
    assert.deepEqual(req.headers.slice(0, 6), [
      ["Host", "127.0.0.1"],
      ["Auth-Method", "plain"],
      ["Auth-User", "john"],
      ["Auth-Pass", 'pa%20ss"word'],
      ["Auth-Protocol", "imap"],
      ["Auth-Login-Attempt", "1"],
    ]);
    assert.equal(req.header("Client-IP"), "127.0.0.1");
    const transcript = backend.transcripts[backend.transcripts.length - 1];
    assert.equal(transcript[0], 'a2 LOGIN {4}\r\njohn {10}\r\npa ss"word\r\n');
    c.send("a3 SELECT INBOX\r\n");
    assert.equal(await c.line(), "* 1 EXISTS");
    c.close();
  });

  test("LOGIN with synchronizing literals gets continuations from the proxy", async () => {
    const c = await greeted(setup.port);
    c.send("x LOGIN {5}\r\n");
    assert.equal(await c.line(), "+ OK");
    c.send("alice {6}\r\n");
    assert.equal(await c.line(), "+ OK");
    c.send("secret\r\n");
    assert.equal(await c.line(), "x OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  });

  test("AUTHENTICATE PLAIN without and with an initial response", async () => {
    const c = await greeted(setup.port);
    c.send("a1 AUTHENTICATE PLAIN\r\n");
    assert.equal(await c.line(), "+ ");
    c.send(Buffer.from("\0alice\0secret").toString("base64") + "\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
    const d = await greeted(setup.port);
    d.send(`a1 AUTHENTICATE PLAIN ${Buffer.from("\0alice\0secret").toString("base64")}\r\n`);
    assert.equal(await d.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    d.close();
  });

  test("AUTHENTICATE LOGIN with an initial response, then a cancel with * is a bad command", async () => {
    const c = await greeted(setup.port);
    c.send("a1 AUTHENTICATE LOGIN\r\n");
    assert.equal(await c.line(), "+ VXNlcm5hbWU6");
    c.send("*\r\n");
    assert.equal(await c.line(), "a1 BAD invalid command");
    c.send(`a2 AUTHENTICATE LOGIN ${Buffer.from("alice").toString("base64")}\r\n`);
    assert.equal(await c.line(), "+ UGFzc3dvcmQ6");
    c.send(Buffer.from("secret").toString("base64") + "\r\n");
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  });

  test("AUTHENTICATE CRAM-MD5 sends the salt and the auth service verifies the digest", async () => {
    const c = await greeted(setup.port);
    c.send("a1 AUTHENTICATE CRAM-MD5\r\n");
    const challenge = await c.line();
    assert.match(challenge, /^\+ [A-Za-z0-9+/=]+$/);
    const salt = Buffer.from(challenge.slice(2), "base64").toString("latin1");
    assert.match(salt, /^<\d+\.\d+@mx\.example\.com>$/);
    const digest = crypto.createHmac("md5", "secret").update(salt).digest("hex");
    c.send(Buffer.from(`alice ${digest}`).toString("base64") + "\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    const req = auth.requests[auth.requests.length - 1];
    assert.equal(req.header("Auth-Method"), "cram-md5");
    assert.equal(req.header("Auth-Salt"), salt);
    c.close();
  });

  test("bad base64 in AUTHENTICATE PLAIN is a tagged BAD and the session goes on", async () => {
    const c = await greeted(setup.port);
    c.send("a1 AUTHENTICATE PLAIN\r\n");
    assert.equal(await c.line(), "+ ");
    c.send("!!!notbase64\r\n");
    assert.equal(await c.line(), "a1 BAD invalid command");
    c.send("a2 NOOP\r\n");
    assert.equal(await c.line(), "a2 OK completed");
    c.close();
  });

  test("a wrong password is answered after Auth-Wait and a second attempt succeeds", async () => {
    const before = auth.requests.length;
    const c = await greeted(setup.port);
    const started = Date.now();
    c.send("a1 LOGIN alice wrong\r\n");
    assert.equal(await c.line(), "a1 NO Invalid login or password");
    assert.ok(Date.now() - started >= 900, "the NO waits for Auth-Wait");
    c.send("a2 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    assert.deepEqual(auth.requests.slice(before).map((r) => r.attempt), [1, 2]);
    c.close();
  });

  test("LOGOUT says BYE and closes", async () => {
    const c = await greeted(setup.port);
    c.send("a1 LOGOUT\r\n");
    assert.equal(await c.rest(), "* BYE\r\na1 OK completed\r\n");
  });

  test("commands pipelined behind LOGIN reach the backend after login", async () => {
    const c = await greeted(setup.port);
    c.send("a1 LOGIN alice secret\r\na2 SELECT INBOX\r\na3 FETCH 1 BODY[]\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    const lines = await c.lines(6);
    assert.equal(lines[5], "a2 OK [READ-WRITE] SELECT completed");
    assert.equal(await c.line(), `* 1 FETCH (BODY[] {${MESSAGE.length}}`);
    assert.equal(await c.bytes(MESSAGE.length), MESSAGE);
    assert.equal(await c.line(), ")");
    assert.equal(await c.line(), "a3 OK FETCH completed");
    c.close();
  });

  test("a 20 MiB literal is relayed byte-exact after login", async () => {
    const c = await greeted(setup.port);
    c.send("a1 LOGIN alice secret\r\n");
    await c.line();
    const size = 20 * 1024 * 1024;
    const data = crypto.randomBytes(size);
    const digest = crypto.createHash("sha256").update(data).digest("hex");
    c.send(`a2 APPEND INBOX {${size}+}\r\n`);
    c.send(data);
    c.send("\r\n");
    assert.equal(await c.line(60_000), `a2 OK APPEND ${size} bytes sha256 ${digest}`);
    c.close();
  });

  test("200 concurrent logins all succeed", async () => {
    const sessions = await Promise.all(Array.from({ length: 200 }, async (_, i) => {
      const c = await greeted(setup.port);
      c.send(`t${i} LOGIN alice secret\r\n`);
      const reply = await c.line(30_000);
      c.close();
      return reply;
    }));
    assert.deepEqual(new Set(sessions), new Set(sessions.map((_, i) => `t${i} OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in`)));
    assert.equal(sessions.length, 200);
  });

  test("the log has session lines but never a password", async () => {
    const log = setup.proxy.log();
    assert.match(log, /\[info\] \d+#0: \*\d+ client logged in, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+, login: "alice", upstream: 127\.0\.0\.1:\d+/);
    assert.match(log, /client login failed: "Invalid login or password"/);
    for (const secret of ["secret", "pa ss", "wrong", Buffer.from("\0alice\0secret").toString("base64")]) {
      assert.ok(!log.includes(secret), `log leaks ${JSON.stringify(secret)}`);
    }
  });
});

describe("IMAP pre-auth limits", () => {
  let auth: AuthServer;
  before(async () => {
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "OK" } }));
  });
  after(() => auth.close());

  test("a line over imap_client_buffer gets BAD and the connection closes", async () => {
    const { proxy, port } = await proxyFor(auth.url, "imap_client_buffer 64;");
    const c = await greeted(port);
    c.send(`a1 LOGIN ${"x".repeat(100)} y\r\n`);
    assert.equal(await c.rest(), "a1 BAD invalid command\r\n");
    assert.match(proxy.log(), /client sent too long command/);
    await proxy.stop();
  });

  test("max_errors closes after the limit with the error reply sent", async () => {
    const { proxy, port } = await proxyFor(auth.url, "max_errors 2;");
    const c = await greeted(port);
    c.send("a1 FOO\r\n");
    assert.equal(await c.line(), "a1 BAD invalid command");
    c.send("a2 BAR\r\n");
    assert.equal(await c.rest(), "a2 BAD invalid command\r\n");
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
});

describe("IMAP failures of the auth service and the backend", () => {
  test("an auth service that is down gives an internal error and a log line", async () => {
    const port = await freePort();
    const { proxy, port: listen } = await proxyFor(`http://127.0.0.1:${port}/auth`);
    const c = await greeted(listen);
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.rest(), "* BAD internal server error\r\n");
    assert.match(proxy.log(), /\[error\].*Connection refused/);
    await proxy.stop();
  });

  test("a refusal without Auth-Wait is answered at once and the connection closes", async () => {
    const auth = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login or password" } }));
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send("a1 LOGIN alice wrong\r\n");
    assert.equal(await c.rest(), "a1 NO Invalid login or password\r\n");
    await proxy.stop();
    await auth.close();
  });

  test("a backend that is down gives an internal error", async () => {
    const port = await freePort();
    const auth = await startAuthServer(() => ({
      headers: { "Auth-Status": "OK", "Auth-Server": "127.0.0.1", "Auth-Port": String(port) },
    }));
    const { proxy, port: listen } = await proxyFor(auth.url);
    const c = await greeted(listen);
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.rest(), "* BAD internal server error\r\n");
    assert.match(proxy.log(), /Connection refused.*upstream: 127\.0\.0\.1:\d+/);
    await proxy.stop();
    await auth.close();
  });

  for (const passError of [false, true]) {
    test(`a backend refusing the login with proxy_pass_error_message ${passError ? "on" : "off"}`, async () => {
      const backend = await startScriptedBackend((b) => {
        b.send("* OK ready\r\n");
        b.socket.on("data", () => {
          const got = b.received();
          if (got.endsWith("LOGIN {5}\r\n")) b.send("+ OK\r\n");
          else if (got.endsWith("alice {6}\r\n")) b.send("+ OK\r\n");
          else if (got.endsWith("secret\r\n")) b.send("a1 NO [UNAVAILABLE] Mailbox is locked\r\n");
        });
      });
      const auth = await startAuthServer(routeTo(backend.port));
      const { proxy, port } = await proxyFor(auth.url, `proxy_pass_error_message ${passError ? "on" : "off"};`);
      const c = await greeted(port);
      c.send("a1 LOGIN alice secret\r\n");
      assert.equal(
        await c.rest(),
        passError ? "a1 NO [UNAVAILABLE] Mailbox is locked\r\n" : "* BAD internal server error\r\n",
      );
      assert.match(proxy.log(), /upstream sent invalid response: "a1 NO \[UNAVAILABLE\] Mailbox is locked"/);
      await proxy.stop();
      await auth.close();
      await backend.close();
    });
  }

  test("proxy_protocol on sends a PROXY v1 line before anything else", async () => {
    const backend = await startScriptedBackend((b) => b.send("* OK ready\r\n"));
    const auth = await startAuthServer(routeTo(backend.port));
    const { proxy, port } = await proxyFor(auth.url, "proxy_protocol on;");
    const c = await greeted(port);
    c.send("a1 LOGIN alice secret\r\n");
    await new Promise((r) => setTimeout(r, 50));
    while (!backend.connections[0]) await new Promise((r) => setTimeout(r, 20));
    await backend.connections[0].waitFor("LOGIN");
    assert.match(backend.connections[0].received(), new RegExp(`^PROXY TCP4 127\\.0\\.0\\.1 127\\.0\\.0\\.1 \\d+ ${port}\\r\\na1 LOGIN \\{5\\}\\r\\n$`));
    c.close();
    await proxy.stop();
    await auth.close();
    await backend.close();
  });

  test("end of stream from the backend flushes its last bytes to the client, then closes both", async () => {
    const backend = await startScriptedBackend((b) => {
      b.send("* OK ready\r\n");
      b.socket.on("data", () => {
        const got = b.received();
        if (got.endsWith("{5}\r\n") || got.endsWith("{6}\r\n")) b.send("+ OK\r\n");
        else if (got.endsWith("secret\r\n")) b.send("a1 OK Logged in\r\n");
        else if (got.endsWith("a2 LOGOUT\r\n")) {
          b.send("* BYE bye\r\na2 OK LOGOUT completed\r\n");
          b.socket.end();
        }
      });
    });
    const auth = await startAuthServer(routeTo(backend.port));
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK Logged in");
    c.send("a2 LOGOUT\r\n");
    assert.equal(await c.rest(), "* BYE bye\r\na2 OK LOGOUT completed\r\n");
    await proxy.stop();
    await auth.close();
    await backend.close();
  });

  test("end of stream from the client closes the backend connection", async () => {
    let backendClosed!: () => void;
    const closed = new Promise<void>((r) => (backendClosed = r));
    const backend = await startScriptedBackend((b) => {
      b.send("* OK ready\r\n");
      b.socket.on("end", () => backendClosed());
      b.socket.on("data", () => {
        const got = b.received();
        if (got.endsWith("{5}\r\n") || got.endsWith("{6}\r\n")) b.send("+ OK\r\n");
        else if (got.endsWith("secret\r\n")) b.send("a1 OK Logged in\r\n");
      });
    });
    const auth = await startAuthServer(routeTo(backend.port));
    const { proxy, port } = await proxyFor(auth.url);
    const c = await greeted(port);
    c.send("a1 LOGIN alice secret\r\n");
    assert.equal(await c.line(), "a1 OK Logged in");
    c.send("a2 NOOP\r\n");
    await backend.connections[0].waitFor("a2 NOOP\r\n");
    c.socket.end();
    await closed;
    assert.ok(backend.connections[0].received().endsWith("a2 NOOP\r\n"));
    await proxy.stop();
    await auth.close();
    await backend.close();
  });
});
