/**
 * The passthrough backend (`proxy_pass`, `--upstream`): no auth service, the
 * backend checks the client's own credentials and its answer is the answer.
 * Real sockets: client → mailproxy → demo IMAP / scripted POP3 and SMTP / Dovecot.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";
import { passthroughProxy as passthrough, type RunningProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { type DovecotBackend, startDovecot } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { loadFileAndFlags } from "../../../src/config/adhoc.ts";
import { type AuthReply, startAuthServer } from "../../support/auth_server.ts";
import { Logger } from "../../../src/log/logger.ts";
import { MailProxy } from "../../../src/server/mail_proxy.ts";

const MESSAGE = "Subject: hello\r\n\r\nbody\r\n";
const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");


describe("IMAP passthrough to the demo backend", () => {
  let backend: DemoImapServer;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startDemoImap({ john: { password: "s3cret", messages: [MESSAGE] } });
    setup = await passthrough("imap", backend.port, "imap_auth plain login cram-md5 external;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("CAPABILITY offers only the mechanisms that carry the password", async () => {
    const c = await WireClient.connect(setup.port);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send("a1 CAPABILITY\r\n");
    assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=LOGIN", "a1 OK completed"]);
    c.send("a2 AUTHENTICATE CRAM-MD5\r\n");
    assert.equal(await c.line(), "a2 BAD invalid command");
    c.send("a3 AUTHENTICATE EXTERNAL =\r\n");
    assert.equal(await c.line(), "a3 BAD invalid command");
    c.close();
  });

  test("a good LOGIN reaches the backend with the client's credentials and its OK reaches the client", async () => {
    const c = await WireClient.connect(setup.port);
    await c.line();
    c.send("a1 LOGIN john s3cret\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    const transcript = backend.transcripts[backend.transcripts.length - 1];
    assert.deepEqual(transcript, ["a1 LOGIN {4}\r\njohn {6}\r\ns3cret\r\n"]);
    c.send("a2 LOGOUT\r\n");
    assert.equal(await c.line(), "* BYE demo logging out");
    c.close();
  });

  test("a refused LOGIN gets the backend's own NO text, is logged as a login failure, and the client may retry", async () => {
    const c = await WireClient.connect(setup.port);
    await c.line();
    c.send("a1 LOGIN john wrong\r\n");
    assert.equal(await c.line(), "a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
    c.send("a2 AUTHENTICATE PLAIN " + b64("\0john\0s3cret") + "\r\n");
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
    const log = setup.proxy.log();
    assert.match(log, /\[info\] .*client login failed: "\[AUTHENTICATIONFAILED\] Authentication failed\."/);
    assert.doesNotMatch(log, /upstream sent invalid response/);
    assert.doesNotMatch(log, /wrong|s3cret/);
  });
});

describe("mailproxy serve --listen --protocol imap --upstream", () => {
  test("the ad-hoc flags alone make a working IMAP proxy", async () => {
    const backend = await startDemoImap({ john: { password: "s3cret", messages: [MESSAGE] } });
    const port = await freePort();
    const flags = { listen: [`127.0.0.1:${port}`], protocol: "imap", upstream: `127.0.0.1:${backend.port}`, logLevel: "emerg" };
    const { config } = loadFileAndFlags({ flags });
    const proxy = new MailProxy(new Logger(config.error_log));
    await proxy.start(config);
    try {
      const c = await WireClient.connect(port);
      assert.equal(await c.line(), "* OK IMAP4 ready");
      c.send("a1 CAPABILITY\r\n");
      assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN", "a1 OK completed"]);
      c.send("a2 LOGIN john s3cret\r\n");
      assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
      c.send("a3 SELECT INBOX\r\n");
      const lines: string[] = [];
      for (let l = await c.line(); ; l = await c.line()) {
        lines.push(l);
        if (l.startsWith("a3 ")) break;
      }
      assert.ok(lines.includes("* 1 EXISTS"), lines.join("\n"));
      c.close();
    } finally {
      await proxy.stop(false);
      await backend.close();
    }
  });
});

describe("POP3 passthrough to a scripted backend", () => {
  let backend: ScriptedBackend;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startScriptedBackend((conn) => {
      conn.send("+OK backend ready\r\n");
      conn.socket.on("data", () => {
        const lines = conn.received().split("\r\n");
        const last = lines[lines.length - 2] ?? "";
        if (last.startsWith("USER ")) conn.send("+OK\r\n");
        else if (last === "PASS right") conn.send("+OK Logged in.\r\n");
        else if (last.startsWith("PASS ")) conn.send("-ERR [AUTH] Authentication failed.\r\n");
      });
    });
    setup = await passthrough("pop3", backend.port, "pop3_auth plain apop cram-md5;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("the greeting has no APOP salt and CAPA lists only PLAIN and LOGIN", async () => {
    const c = await WireClient.connect(setup.port);
    assert.equal(await c.line(), "+OK POP3 ready");
    c.send("CAPA\r\n");
    assert.deepEqual(await c.lines(6), ["+OK Capability list follows", "TOP", "USER", "UIDL", "SASL PLAIN LOGIN", "."]);
    c.send("APOP john 0123456789abcdef0123456789abcdef\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("AUTH CRAM-MD5\r\n");
    assert.equal(await c.line(), "-ERR invalid command");
    c.close();
  });

  test("a refused PASS gets the backend's -ERR text and a second try logs in", async () => {
    const c = await WireClient.connect(setup.port);
    await c.line();
    c.send("USER john\r\n");
    assert.equal(await c.line(), "+OK");
    c.send("PASS wrong\r\n");
    assert.equal(await c.line(), "-ERR [AUTH] Authentication failed.");
    c.send("AUTH PLAIN " + b64("\0john\0right") + "\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    c.close();
    const received = backend.connections.map((conn) => conn.received());
    assert.deepEqual(received.slice(-2), ["USER john\r\nPASS wrong\r\n", "USER john\r\nPASS right\r\n"]);
    assert.match(setup.proxy.log(), /\[info\] .*client login failed: "\[AUTH\] Authentication failed\."/);
  });
});

describe("SMTP passthrough to a scripted backend", () => {
  let backend: ScriptedBackend;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startScriptedBackend((conn) => {
      conn.send("220 backend ESMTP\r\n");
      conn.socket.on("data", () => {
        const lines = conn.received().split("\r\n");
        const last = lines[lines.length - 2] ?? "";
        if (last.startsWith("EHLO ")) conn.send("250-backend\r\n250 AUTH PLAIN\r\n");
        else if (last === "AUTH PLAIN " + b64("\0john\0right")) conn.send("235 2.7.0 Authentication successful\r\n");
        else if (last.startsWith("AUTH ")) conn.send("535 5.7.8 Error: authentication failed: bad password\r\n");
      });
    });
    setup = await passthrough("smtp", backend.port, "smtp_auth plain login cram-md5; xclient off;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("EHLO lists only PLAIN and LOGIN, and the backend's 535 reaches the client", async () => {
    const c = await WireClient.connect(setup.port);
    assert.equal(await c.line(), "220 mx.example.com ESMTP ready");
    c.send("EHLO client.example\r\n");
    assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
    c.send("AUTH PLAIN " + b64("\0john\0wrong") + "\r\n");
    assert.equal(await c.line(), "535 5.7.8 Error: authentication failed: bad password");
    c.send("AUTH LOGIN " + b64("john") + "\r\n");
    assert.equal(await c.line(), "334 UGFzc3dvcmQ6");
    c.send(b64("right") + "\r\n");
    assert.equal(await c.line(), "235 2.0.0 OK");
    c.close();
    const received = backend.connections.map((conn) => conn.received());
    assert.deepEqual(received.slice(-2), [
      `EHLO mx.example.com\r\nAUTH PLAIN ${b64("\0john\0wrong")}\r\n`,
      `EHLO mx.example.com\r\nAUTH PLAIN ${b64("\0john\0right")}\r\n`,
    ]);
  });
});

describe("passthrough to a real Dovecot", () => {
  let dovecot: DovecotBackend;
  let imap: { proxy: RunningProxy; port: number };
  let pop3: { proxy: RunningProxy; port: number };

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: "carol", password: "c4r0l pass", messages: [MESSAGE] }] });
    imap = await passthrough("imap", dovecot.imapPort);
    pop3 = await passthrough("pop3", dovecot.pop3Port);
  });
  after(async () => {
    await imap.proxy.stop();
    await pop3.proxy.stop();
    await dovecot.stop();
  });

  test("IMAP: a bad password gets Dovecot's NO, the good one logs in and reads the mailbox", async () => {
    const c = await WireClient.connect(imap.port);
    await c.line();
    c.send('a1 LOGIN carol "wrong pass"\r\n');
    assert.equal(await c.line(), "a1 NO [AUTHENTICATIONFAILED] Authentication failed.");
    c.send('a2 LOGIN carol "c4r0l pass"\r\n');
    const ok = await c.line();
    assert.match(ok, /^a2 OK \[CAPABILITY [^\]]+\] Logged in$/);
    c.send("a3 STATUS INBOX (MESSAGES)\r\n");
    assert.equal(await c.line(), "* STATUS INBOX (MESSAGES 1)");
    assert.match(await c.line(), /^a3 OK Status completed/);
    c.close();
  });

  test("POP3: a bad password gets Dovecot's -ERR, the good one logs in", async () => {
    const c = await WireClient.connect(pop3.port);
    await c.line();
    c.send("USER carol\r\nPASS wrong\r\n");
    assert.equal(await c.line(), "+OK");
    assert.equal(await c.line(), "-ERR [AUTH] Authentication failed.");
    c.send("AUTH PLAIN " + b64("\0carol\0c4r0l pass") + "\r\n");
    assert.equal(await c.line(), "+OK Logged in.");
    c.send("STAT\r\n");
    assert.match(await c.line(), /^\+OK 1 \d+$/);
    c.close();
  });
});

describe("auth_http and proxy_pass together", () => {
  test("auth_http decides, and proxy_pass is the backend of an Auth-Status: OK that names none", async () => {
    const backend = await startDemoImap({ john: { password: "s3cret", messages: [MESSAGE] } });
    const auth = await startAuthServer((req): AuthReply => {
      if (req.user === "john") return { headers: { "Auth-Status": "OK" } };
      if (req.user === "empty") return { headers: [] };
      return { headers: { "Auth-Status": "Go away" } };
    });
    const setup = await passthrough("imap", backend.port, `auth_http ${auth.url}; imap_auth plain cram-md5;`);
    try {
      const c = await WireClient.connect(setup.port);
      await c.line();
      c.send("a0 CAPABILITY\r\n");
      // auth_http can check CRAM-MD5, so it stays offered.
      assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=CRAM-MD5", "a0 OK completed"]);
      c.send("a1 LOGIN john s3cret\r\n");
      assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
      c.close();
      assert.equal(auth.requests.length, 1);
      assert.equal(auth.requests[0].header("Auth-User"), "john");

      const d = await WireClient.connect(setup.port);
      await d.line();
      d.send("b1 LOGIN mallory x\r\n");
      assert.equal(await d.line(), "b1 NO Go away");
      d.close();

      const e = await WireClient.connect(setup.port);
      await e.line();
      e.send("c1 LOGIN empty x\r\n");
      // Without Auth-Status: OK an answer naming no backend is still nginx's internal error.
      assert.equal(await e.line(), "* BAD internal server error");
      e.close();
      assert.equal(backend.transcripts.length, 1);
    } finally {
      await setup.proxy.stop();
      await auth.close();
      await backend.close();
    }
  });
});
