/**
 * Proves the integration harness itself, with no proxy in between: real clients against
 * the real Dovecot and Postfix that backends.ts starts.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { existsSync } from "node:fs";
import { makeTestCertificate, startDovecot, startPostfix, type DovecotBackend, type PostfixBackend } from "./backends.ts";
import { freePort } from "./ports.ts";
import { curl, pythonImapFetch, pythonPop3Retr, pythonSmtpSend, swaks } from "./mail_clients.ts";

const SEEDED =
  "From: Sender <sender@example.org>\r\n" +
  "To: Alice <alice@example.org>\r\n" +
  "Subject: Seeded for the harness\r\n" +
  "Message-ID: <seeded-1@example.org>\r\n" +
  "\r\n" +
  "First body line.\r\n" +
  "Second body line.\r\n";

describe("Dovecot backend", () => {
  let dovecot: DovecotBackend;
  before(async () => {
    dovecot = await startDovecot({
      users: [
        { user: "alice", password: "secret", messages: [SEEDED] },
        { user: "bob", password: 'pa:ss "w\\rd', messages: ["Subject: For Bob\r\n\r\nHi.\r\n"] },
      ],
    });
  });
  after(async () => {
    await dovecot?.stop();
  });

  test("imaplib fetches the seeded message byte for byte", async () => {
    const result = await pythonImapFetch({ host: "127.0.0.1", port: dovecot.imapPort, user: "alice", password: "secret" });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, SEEDED);
  });

  test("imaplib with AUTHENTICATE PLAIN fetches the same message", async () => {
    const result = await pythonImapFetch({
      host: "127.0.0.1",
      port: dovecot.imapPort,
      user: "alice",
      password: "secret",
      auth: "plain",
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, SEEDED);
  });

  test("a password with a colon, quote and backslash logs in", async () => {
    const result = await pythonImapFetch({
      host: "127.0.0.1",
      port: dovecot.imapPort,
      user: "bob",
      password: 'pa:ss "w\\rd',
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, "Subject: For Bob\r\n\r\nHi.\r\n");
  });

  test("a wrong password is refused with AUTHENTICATIONFAILED", async () => {
    const result = await pythonImapFetch({ host: "127.0.0.1", port: dovecot.imapPort, user: "alice", password: "wrong" });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[AUTHENTICATIONFAILED\] Authentication failed\./);
    assert.equal(result.stdout, "");
  });

  test("curl imap:// lists INBOX", async () => {
    const result = await curl(["-sS", "--max-time", "20", "-u", "alice:secret", `imap://127.0.0.1:${dovecot.imapPort}/`]);
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, '* LIST (\\HasNoChildren) "." INBOX\r\n');
  });

  test("curl pop3:// lists the one message with its size", async () => {
    const result = await curl(["-sS", "--max-time", "20", "-u", "alice:secret", `pop3://127.0.0.1:${dovecot.pop3Port}/`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `1 ${SEEDED.length}\r\n`);
  });

  test("poplib RETR returns the seeded message", async () => {
    const result = await pythonPop3Retr({ host: "127.0.0.1", port: dovecot.pop3Port, user: "alice", password: "secret" });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, SEEDED);
  });

  test("the POP3 greeting offers XCLIENT to loopback, which is a trusted network", async () => {
    const session = await LineSession.open(dovecot.pop3Port);
    try {
      assert.equal(await session.line(), "+OK [XCLIENT] Dovecot (Debian) ready.");
    } finally {
      session.close();
    }
  });
});

describe("Postfix backend", () => {
  let postfix: PostfixBackend;
  before(async () => {
    postfix = await startPostfix();
  });
  after(async () => {
    await postfix?.stop();
  });

  test("swaks sends a message and received() returns it with its subject", async () => {
    const result = await swaks([
      "--server", `127.0.0.1:${postfix.port}`,
      "--from", "alice@example.org",
      "--to", "bob@example.com",
      "--header", "Subject: Sent by swaks",
      "--body", "Hello from swaks.",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /<- {2}250 2\.0\.0 Ok: queued as [0-9A-F]+\r?\n/);
    const messages = (await postfix.received()).filter((m) => m.includes("Subject: Sent by swaks"));
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nSubject: Sent by swaks\n/);
    assert.match(messages[0], /\n\nHello from swaks\.\n/);
    assert.match(messages[0], /^Return-Path: <alice@example\.org>\n/);
  });

  test("smtplib sends without AUTH and sees each reply", async () => {
    const result = await pythonSmtpSend({
      host: "127.0.0.1",
      port: postfix.port,
      from: "carol@example.org",
      to: ["dave@example.net"],
      message: "From: carol@example.org\r\nTo: dave@example.net\r\nSubject: Sent by smtplib\r\n\r\nHi Dave.\r\n",
    });
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.split("\n");
    assert.equal(lines[0], "MAIL 250 2.1.0 Ok");
    assert.equal(lines[1], "RCPT 250 2.1.5 Ok");
    assert.match(lines[2], /^DATA 250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    const messages = (await postfix.received()).filter((m) => m.includes("Subject: Sent by smtplib"));
    assert.equal(messages.length, 1, await postfix.log());
  });

  test("EHLO lists XCLIENT and XCLIENT from loopback gets a new 220 greeting", async () => {
    const session = await LineSession.open(postfix.port);
    try {
      assert.equal(await session.line(), "220 backend.test ESMTP test backend");
      const ehlo = await session.command("EHLO proxy.test");
      assert.equal(ehlo[0], "250-backend.test");
      const xclient = ehlo.find((line) => line.startsWith("250-XCLIENT "));
      assert.ok(xclient, ehlo.join("\n"));
      assert.deepEqual(
        ["ADDR", "NAME", "LOGIN", "HELO", "PROTO"].filter((attr) => !xclient.split(" ").includes(attr)),
        [],
      );
      assert.deepEqual(await session.command("XCLIENT ADDR=192.0.2.1 NAME=[UNAVAILABLE]"), [
        "220 backend.test ESMTP test backend",
      ]);
      assert.deepEqual(await session.command("QUIT"), ["221 2.0.0 Bye"]);
    } finally {
      session.close();
    }
  });

  test("mail sent after XCLIENT is received as coming from the forwarded address", async () => {
    const session = await LineSession.open(postfix.port);
    try {
      await session.line();
      await session.command("EHLO proxy.test");
      await session.command("XCLIENT ADDR=192.0.2.1 NAME=[UNAVAILABLE] LOGIN=alice");
      // Like nginx: after XCLIENT, greet again with the client's own EHLO name.
      await session.command("EHLO client.example");
      assert.deepEqual(await session.command("MAIL FROM:<alice@example.org>"), ["250 2.1.0 Ok"]);
      assert.deepEqual(await session.command("RCPT TO:<bob@example.com>"), ["250 2.1.5 Ok"]);
      assert.deepEqual(await session.command("DATA"), ["354 End data with <CR><LF>.<CR><LF>"]);
      const done = await session.command("Subject: After XCLIENT\r\n\r\nForwarded.\r\n.");
      assert.match(done[0], /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
      await session.command("QUIT");
    } finally {
      session.close();
    }
    const messages = (await postfix.received()).filter((m) => m.includes("Subject: After XCLIENT"));
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from client\.example \(unknown \[192\.0\.2\.1\]\)\n/);
    // LOGIN= made it an authenticated submission.
    assert.match(messages[0], /\n\tby backend\.test \(Postfix\) with ESMTPA id [0-9A-F]+\n/);
  });
});

describe("Backend lifecycle", () => {
  test("stop() closes the ports and removes the temp dirs", async () => {
    const dovecot = await startDovecot({ users: [] });
    const postfix = await startPostfix();
    await dovecot.stop();
    await postfix.stop();
    for (const port of [dovecot.imapPort, dovecot.pop3Port, postfix.port]) {
      assert.equal(await connectError(port), "ECONNREFUSED");
    }
    assert.equal(existsSync(dovecot.dir), false);
    assert.equal(existsSync(postfix.dir), false);
  });
});

describe("Backends behind the PROXY protocol", () => {
  test("Dovecot logs the client address from a PROXY v1 header as rip", async () => {
    const dovecot = await startDovecot({ users: [{ user: "alice", password: "secret" }], proxyProtocol: true });
    try {
      const session = await LineSession.open(dovecot.imapPort);
      try {
        session.send("PROXY TCP4 192.0.2.7 127.0.0.1 40000 143");
        assert.match(await session.line(), /^\* OK .*Dovecot \(Debian\) ready\.$/);
        session.send("a1 LOGIN alice secret");
        assert.match(await session.line(), /^a1 OK .*Logged in$/);
        session.send("a2 LOGOUT");
        assert.equal(await session.line(), "* BYE Logging out");
      } finally {
        session.close();
      }
      const line = await waitForLogLine(dovecot.log, "Login: user=<alice>");
      assert.match(line, /imap-login: Info: Login: user=<alice>, method=PLAIN, rip=192\.0\.2\.7, lip=127\.0\.0\.1,/);
    } finally {
      await dovecot.stop();
    }
  });

  test("Postfix logs the client address from a PROXY v1 header", async () => {
    const postfix = await startPostfix({ proxyProtocol: true });
    try {
      const session = await LineSession.open(postfix.port);
      try {
        session.send("PROXY TCP4 192.0.2.8 127.0.0.1 40000 25");
        assert.equal(await session.line(), "220 backend.test ESMTP test backend");
        assert.deepEqual(await session.command("QUIT"), ["221 2.0.0 Bye"]);
      } finally {
        session.close();
      }
      const line = await waitForLogLine(postfix.log, "connect from unknown[192.0.2.8]");
      assert.match(line, /postfix\/smtpd\[\d+\]: connect from unknown\[192\.0\.2\.8\]$/);
    } finally {
      await postfix.stop();
    }
  });
});

describe("Test certificates", () => {
  test("a client trusting the test CA verifies the server certificate for localhost", async () => {
    const tls = makeTestCertificate();
    const port = await freePort();
    const server = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => socket.end("* OK tls\r\n"));
    try {
      await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = tlsConnect({ host: "127.0.0.1", port, servername: "localhost", ca: tls.ca });
        let data = "";
        socket.on("data", (chunk: Buffer) => (data += chunk.toString("latin1")));
        socket.on("end", () => resolve(`${socket.authorized} ${data}`));
        socket.on("error", reject);
      });
      assert.equal(greeting, "true * OK tls\r\n");
    } finally {
      await new Promise((resolve) => server.close(resolve));
      tls.remove();
    }
    assert.equal(existsSync(tls.dir), false);
  });
});

async function waitForLogLine(log: () => Promise<string>, needle: string): Promise<string> {
  let text = "";
  for (let attempt = 0; attempt < 100; attempt++) {
    text = await log();
    const line = text.split("\n").find((candidate) => candidate.includes(needle));
    if (line !== undefined) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`No log line with "${needle}" in:\n${text}`);
}

/** A line-by-line conversation over a raw socket, for exact protocol assertions. */
class LineSession {
  private buffer = "";
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer += chunk.toString("latin1");
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static open(port: number): Promise<LineSession> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: "127.0.0.1", port }, () => resolve(new LineSession(socket)));
      socket.once("error", reject);
    });
  }

  /** The next CRLF-terminated line, without the CRLF. */
  async line(): Promise<string> {
    for (;;) {
      const end = this.buffer.indexOf("\r\n");
      if (end >= 0) {
        const line = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        return line;
      }
      if (this.closed) throw new Error(`Connection closed; unread: "${this.buffer}"`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Sends one line; CRLF is added. */
  send(text: string): void {
    this.socket.write(Buffer.from(text + "\r\n", "latin1"));
  }

  /** Sends one SMTP command and returns every line of its reply. */
  async command(text: string): Promise<string[]> {
    this.send(text);
    const lines: string[] = [];
    for (;;) {
      const line = await this.line();
      lines.push(line);
      if (/^\d{3}( |$)/.test(line)) return lines;
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }
}

function connectError(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve("connected");
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
