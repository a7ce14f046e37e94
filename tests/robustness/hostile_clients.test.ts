/**
 * Hostile clients against a proxy running in-process: connections that never
 * speak, a client trickling bytes, 1 MiB lines, endless literals, a burst of
 * bad commands, TLS handshakes that stall and a flood over worker_connections.
 * Each is closed the way the spec says, logged, and a legitimate user's logins
 * keep succeeding meanwhile; afterwards no session is left, and a second round
 * of the heaviest abuse leaves resident memory where the first left it.
 *
 * Sized for CI on 2 shared cores: the 2,000 silent connections, but
 * `timeout 1s`, and the trickle at four bytes a second against that deadline
 * (a byte a second would send one byte before the close).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../support/auth_server.ts";
import { type DemoImapServer, startDemoImap } from "../../scripts/demo/imap_backend.ts";
import { startProxy, type RunningProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { makeTestCertificate, type TestCertificate } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { connectMany, imapLogin, LoginLoop, occurrences } from "../support/imap_logins.ts";
import { collectGarbage, eventually, rssMiB } from "../support/resources.ts";

const SILENT_CONNECTIONS = 2000;
const MAX_ERRORS = 5;
const MiB = 1024 * 1024;

describe("hostile clients against a running proxy", () => {
  let backend: DemoImapServer;
  let auth: AuthServer;
  let proxy: RunningProxy;
  let cert: TestCertificate;
  const port = { imap: 0, pop3: 0, smtp: 0, imaps: 0 };
  let baselineRss = 0;

  before(async () => {
    cert = makeTestCertificate();
    backend = await startDemoImap({ alice: { password: "secret", messages: ["Subject: hi\r\n\r\nhello\r\n"] } });
    auth = await startAuthServer(defaultAuthHandler({ alice: { password: "secret", backend: { host: "127.0.0.1", port: backend.port } } }));
    for (const key of Object.keys(port) as Array<keyof typeof port>) port[key] = await freePort();
    // worker_connections defaults to 512: room for the silent flood, which is not about that limit.
    proxy = await startProxy(`events { worker_connections 4096; }
    mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      timeout 1s;
      max_errors ${MAX_ERRORS};
      server {
        listen 127.0.0.1:${port.imap}; protocol imap;
        starttls on; ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};
      }
      server { listen 127.0.0.1:${port.pop3}; protocol pop3; }
      server { listen 127.0.0.1:${port.smtp}; protocol smtp; smtp_auth login plain; }
      server {
        listen 127.0.0.1:${port.imaps} ssl; protocol imap;
        ssl_certificate ${cert.certFile}; ssl_certificate_key ${cert.keyFile};
      }
    }`);
    // Warm up (pooled auth connection, JIT) before the memory baseline.
    for (let i = 0; i < 5; i++) await imapLogin(port.imap);
    collectGarbage();
    baselineRss = rssMiB();
  });

  after(async () => {
    await proxy.stop();
    await auth.close();
    await backend.close();
    cert.remove();
  });

  test(`${SILENT_CONNECTIONS} connections that never speak are greeted, closed silently at timeout, and logins go on`, async () => {
    const loop = new LoginLoop(port.imap);
    const timedOutBefore = occurrences(proxy.log(), "client timed out (110: Connection timed out)");
    const clients = await connectMany(port.imap, SILENT_CONNECTIONS);
    for (const c of clients) assert.equal(await c.line(15_000), "* OK IMAP4 ready");
    // Nothing but the close follows the greeting.
    const rests = await Promise.all(clients.map((c) => c.rest(30_000)));
    assert.deepEqual(new Set(rests), new Set([""]));
    const logins = await loop.stop();
    assert.deepEqual(logins.failures, []);
    assert.ok(logins.ok > 0, "logins succeeded during the flood");
    assert.ok(await eventually(() => proxy.proxy.activeSessions === 0, 10_000), `${proxy.proxy.activeSessions} sessions left`);
    const timedOut = occurrences(proxy.log(), "client timed out (110: Connection timed out)") - timedOutBefore;
    assert.ok(timedOut >= SILENT_CONNECTIONS, `${timedOut} time-outs logged`);
  });

  test("a client sending a few bytes a second is closed at the one pre-auth deadline, not kept alive by trickling", async () => {
    const c = await WireClient.connect(port.imap);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    const text = "a1 LOGIN alice secret-but-very-slowly\r\n";
    let sent = 0;
    // 40 bytes at 4 a second would take 10 s: the deadline (1 s) must cut it short.
    while (sent < text.length && !c.ended) {
      c.send(text[sent++]!);
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.ok(c.ended, "the proxy closed the connection while the client was still trickling");
    assert.ok(sent < text.length / 2, `closed only after ${sent} bytes`);
    assert.equal(await c.rest(), "");
    assert.equal(auth.requests.filter((r) => r.pass.startsWith("secret-but")).length, 0);
  });

  const megabyteLines = [
    { protocol: "imap", greeting: "* OK IMAP4 ready", line: "a1 LOGIN ", answer: "a1 BAD invalid command" },
    { protocol: "pop3", greeting: "+OK POP3 ready", line: "USER ", answer: "-ERR invalid command" },
    { protocol: "smtp", greeting: "220 mx.example.com ESMTP ready", line: "EHLO ", answer: "500 5.5.1 Invalid command" },
  ] as const;
  for (const { protocol, greeting, line, answer } of megabyteLines) {
    test(`a 1 MiB ${protocol.toUpperCase()} line gets the invalid-command line and a close at the buffer limit`, async () => {
      const before = occurrences(proxy.log(), "client sent too long command");
      const c = await WireClient.connect(port[protocol]);
      assert.equal(await c.line(), greeting);
      c.send(line + "x".repeat(MiB) + "\r\n");
      assert.equal(await c.rest(15_000), `${answer}\r\n`);
      assert.ok(await eventually(() => occurrences(proxy.log(), "client sent too long command") > before));
    });
  }

  test("an endless chain of synchronising literals is cut off at imap_client_buffer", async () => {
    const c = await WireClient.connect(port.imap);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 LOGIN {1000}\r\n");
    const lines: string[] = [];
    for (;;) {
      const l = await c.line().catch(() => null);
      if (l === null) break;
      lines.push(l);
      if (l !== "+ OK") break;
      c.send("y".repeat(1000) + " {1000}\r\n");
    }
    assert.ok(lines.length >= 2 && lines.slice(0, -1).every((l) => l === "+ OK"), JSON.stringify(lines));
    assert.equal(lines[lines.length - 1], "a1 BAD invalid command");
    assert.ok(lines.length <= 5, "4 KiB of literals at most");
    assert.equal(await c.rest(), "");
  });

  test("a literal larger than the buffer, and endless non-synchronising literal data, are refused at once", async () => {
    const big = await WireClient.connect(port.imap);
    assert.equal(await big.line(), "* OK IMAP4 ready");
    big.send("a1 LOGIN {999999999}\r\n");
    assert.equal(await big.rest(), "a1 BAD invalid command\r\n");

    const endless = await WireClient.connect(port.imap);
    assert.equal(await endless.line(), "* OK IMAP4 ready");
    endless.send("a2 LOGIN {4000+}\r\n" + "z".repeat(MiB));
    assert.equal(await endless.rest(15_000), "a2 BAD invalid command\r\n");
  });

  const bursts = [
    { protocol: "imap", greeting: "* OK IMAP4 ready", bad: "x BOGUS\r\n", reply: "x BAD invalid command", last: "a9 LOGIN alice secret\r\n" },
    { protocol: "pop3", greeting: "+OK POP3 ready", bad: "BOGUS\r\n", reply: "-ERR invalid command", last: "USER alice\r\nPASS secret\r\n" },
    { protocol: "smtp", greeting: "220 mx.example.com ESMTP ready", bad: "BOGUS\r\n", reply: "500 5.5.1 Invalid command", last: "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" },
  ] as const;
  for (const { protocol, greeting, bad, reply, last } of bursts) {
    test(`10,000 bad ${protocol.toUpperCase()} commands in one burst: max_errors answers, a close, nothing after them processed`, async () => {
      const requests = auth.requests.length;
      const before = occurrences(proxy.log(), "client sent too many invalid commands");
      const c = await WireClient.connect(port[protocol]);
      assert.equal(await c.line(), greeting);
      c.send(bad.repeat(10_000) + last);
      assert.equal(await c.rest(15_000), `${reply}\r\n`.repeat(MAX_ERRORS));
      assert.equal(auth.requests.length, requests, "the login behind the burst never reached the auth service");
      assert.ok(await eventually(() => occurrences(proxy.log(), "client sent too many invalid commands") === before + 1));
    });
  }

  test("TLS handshakes that stall (silent, half a ClientHello, after STARTTLS) are closed silently at timeout and end their sessions", async () => {
    const silent = await WireClient.connect(port.imaps);
    const half = await WireClient.connect(port.imaps);
    // A TLS record header announcing 512 bytes of handshake, then only a few of them.
    const partialHello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    half.send(partialHello);
    const starttls = await WireClient.connect(port.imap);
    assert.equal(await starttls.line(), "* OK IMAP4 ready");
    starttls.send("s1 STARTTLS\r\n");
    assert.equal(await starttls.line(), "s1 OK completed");
    starttls.send(partialHello);
    assert.equal(await silent.rest(10_000), "");
    assert.equal(await half.rest(10_000), "", "no greeting without a handshake");
    assert.equal(await starttls.rest(10_000), "");
    // Each failed handshake ends its session: none may linger and count against worker_connections.
    assert.ok(await eventually(() => proxy.proxy.activeSessions === 0, 5000), `${proxy.proxy.activeSessions} sessions left`);
    await imapLogin(port.imap);
  });

  /**
   * A leak grows with every round of abuse; the allocator's high-water mark does not.
   * So the first rounds above set the mark, and a further round of the heaviest (the
   * silent flood and the megabyte lines) must leave resident memory near where the round
   * before left it. Deno's collector runs when it likes (no gc() from a test) and once in
   * a while a round ends with its garbage still resident (CI saw +26 MiB), so a round may
   * be repeated, up to three: memory that keeps growing round after round is the leak.
   * (Against the pre-abuse baseline the mark alone is 50 to 90 MiB on Deno, whose native
   * buffers are not given back to the system.)
   */
  test("after all of it no session is left, and further rounds of the same abuse leave memory where the first did", async () => {
    const settled = async () => {
      assert.ok(await eventually(() => proxy.proxy.activeSessions === 0, 10_000), `${proxy.proxy.activeSessions} sessions left`);
      collectGarbage();
      await new Promise((r) => setTimeout(r, 200));
      collectGarbage();
      return rssMiB();
    };
    const abuseAgain = async () => {
      const clients = await connectMany(port.imap, SILENT_CONNECTIONS);
      await Promise.all(clients.map((c) => c.rest(30_000)));
      for (const { protocol, line } of megabyteLines) {
        const c = await WireClient.connect(port[protocol]);
        await c.line();
        c.send(line + "x".repeat(MiB) + "\r\n");
        await c.rest(15_000);
      }
      await imapLogin(port.imap);
      return await settled();
    };
    const rounds = [await settled()];
    do rounds.push(await abuseAgain());
    while (rounds.at(-1)! >= rounds.at(-2)! + 24 && rounds.length < 4);
    assert.ok(
      rounds.at(-1)! < rounds.at(-2)! + 24,
      `RSS after each round of abuse: ${rounds.map((r) => r.toFixed(1)).join(", ")} MiB (${baselineRss.toFixed(1)} before any)`,
    );
  });
});

describe("a connection flood over worker_connections", () => {
  test("connections over the limit are refused and logged while logged-in sessions keep working, and logins resume after", async () => {
    const backend = await startDemoImap({ alice: { password: "secret", messages: ["Subject: hi\r\n\r\nhello\r\n"] } });
    const auth = await startAuthServer(defaultAuthHandler({ alice: { password: "secret", backend: { host: "127.0.0.1", port: backend.port } } }));
    const imap = await freePort();
    const limit = 40;
    const proxy = await startProxy(`events { worker_connections ${limit}; }
    mail { auth_http ${auth.url}; timeout 5s; server { listen 127.0.0.1:${imap}; protocol imap; } }`);
    try {
      const users: WireClient[] = [];
      for (let i = 0; i < 2; i++) {
        const c = await WireClient.connect(imap);
        assert.equal(await c.line(), "* OK IMAP4 ready");
        c.send("a1 LOGIN alice secret\r\n");
        assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
        users.push(c);
      }
      const flood = await connectMany(imap, 10 * limit, 100);
      // Refused connections close without a byte; accepted ones are greeted and stay open.
      const refused = await Promise.all(flood.map(async (c) => {
        await eventually(() => c.ended || c.socket.bytesRead > 0, 5000, 20);
        return c.ended && c.socket.bytesRead === 0;
      }));
      const accepted = refused.filter((r) => !r).length;
      assert.ok(accepted <= limit - users.length, `${accepted} accepted over a limit of ${limit}`);
      assert.ok(refused.filter((r) => r).length >= 10 * limit - limit, "the rest were refused");
      assert.ok(proxy.proxy.activeSessions <= limit);
      assert.match(proxy.log(), new RegExp(`\\[alert\\] \\d+#0: ${limit} worker_connections are not enough\\n`));
      for (const [i, c] of users.entries()) {
        c.send(`s${i} SELECT INBOX\r\n`);
        assert.equal(await c.line(), "* 1 EXISTS");
      }
      for (const c of flood) c.close();
      assert.ok(await eventually(() => proxy.proxy.activeSessions === users.length, 5000));
      await imapLogin(imap);
      for (const c of users) c.close();
      assert.ok(await eventually(() => proxy.proxy.activeSessions === 0, 5000));
    } finally {
      await proxy.stop();
      await auth.close();
      await backend.close();
    }
  });
});
