/**
 * Real clients (Python poplib/smtplib, curl, swaks) through mailproxy to real
 * backends (Dovecot POP3, Postfix with XCLIENT for loopback), in-process and
 * through the compiled binary `dist/mailproxy -c FILE`.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { type DovecotBackend, type PostfixBackend, startDovecot, startPostfix } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { curl, pythonPop3Retr, pythonSmtpSend, swaks } from "../../support/mail_clients.ts";
import { ensureBinary } from "../../support/binary.ts";
import { tempDir } from "../../support/temp_dir.ts";

/** A second loopback address for clients, so the backend can tell the client from the proxy. */
const CLIENT_IP = "127.0.0.5";

/** Byte-exact: an 8-bit byte, a line starting with a dot, and a long line. */
const SEEDED = "From: alice@example.org\r\nSubject: seeded caf\xe9\r\n\r\nfirst line\r\n.dot line\r\n" +
  "x".repeat(900) + "\r\nlast line\r\n";

function message(subject: string): string {
  return `From: alice@example.org\r\nTo: bob@example.com\r\nSubject: ${subject}\r\n\r\nSent through mailproxy.\r\n`;
}

/** Delivered messages with this subject (waits for the queue). */
async function delivered(postfix: PostfixBackend, subject: string): Promise<string[]> {
  return (await postfix.received()).filter((m) => m.includes(`\nSubject: ${subject}\n`));
}

/**
 * The fixture's auth service (plain, APOP and CRAM-MD5 digests checked, the
 * password returned for digests) for user alice: POP3 logins go to Dovecot,
 * SMTP logins and `none` to Postfix.
 */
function startAuthFor(dovecot: DovecotBackend, postfix: PostfixBackend): Promise<AuthServer> {
  const backend = (port: number) => ({ alice: { password: "secret", backend: { host: "127.0.0.1", port } } });
  const pop3 = defaultAuthHandler(backend(dovecot.pop3Port));
  const smtp = defaultAuthHandler(backend(postfix.port));
  return startAuthServer((req) => (req.protocol === "smtp" ? smtp(req) : pop3(req)));
}

function serverBlocks(authUrl: string, pop3Port: number, smtpPort: number): string {
  return `mail {
    server_name mx.example.com;
    auth_http ${authUrl};
    server {
      listen 127.0.0.1:${pop3Port};
      protocol pop3;
      pop3_auth plain apop cram-md5;
    }
    server {
      listen 127.0.0.1:${smtpPort};
      protocol smtp;
      smtp_auth plain login cram-md5 none;
      smtp_capabilities 8BITMIME;
    }
  }`;
}

describe("real POP3 and SMTP clients through mailproxy to Dovecot and Postfix", () => {
  let dovecot: DovecotBackend;
  let postfix: PostfixBackend;
  let auth: AuthServer;
  let proxy: RunningProxy;
  let pop3Port: number;
  let smtpPort: number;

  before(async () => {
    [dovecot, postfix] = await Promise.all([
      startDovecot({ users: [{ user: "alice", password: "secret", messages: [SEEDED] }] }),
      startPostfix(),
    ]);
    auth = await startAuthFor(dovecot, postfix);
    [pop3Port, smtpPort] = [await freePort(), await freePort()];
    proxy = await startProxy(serverBlocks(auth.url, pop3Port, smtpPort));
  });

  after(async () => {
    await proxy?.stop();
    await auth?.close();
    await dovecot?.stop();
    await postfix?.stop();
  });

  test("poplib logs in with USER/PASS and RETRs the seeded message byte-exact", async () => {
    const result = await pythonPop3Retr({ host: "127.0.0.1", port: pop3Port, user: "alice", password: "secret" });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, SEEDED);
  });

  test("curl pop3:// lists the message and RETRs it byte-exact, choosing CRAM-MD5 from CAPA", async () => {
    const before = auth.requests.length;
    const list = await curl(["-sS", "--max-time", "20", "-u", "alice:secret", `pop3://127.0.0.1:${pop3Port}/`]);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, `1 ${SEEDED.length}\r\n`);
    const retr = await curl(["-sS", "--max-time", "20", "-u", "alice:secret", `pop3://127.0.0.1:${pop3Port}/1`]);
    assert.equal(retr.code, 0, retr.stderr);
    assert.equal(retr.stdout, SEEDED);
    assert.deepEqual(auth.requests.slice(before).map((r) => r.method), ["cram-md5", "cram-md5"]);
  });

  test("curl pop3:// with a wrong password gets the auth service's refusal", async () => {
    const result = await curl(["-sS", "--max-time", "20", "-u", "alice:wrong", `pop3://127.0.0.1:${pop3Port}/`]);
    assert.equal(result.code, 67, result.stderr); // CURLE_LOGIN_DENIED
    assert.equal(result.stdout, "");
  });

  test("curl pop3:// with AUTH PLAIN (SASL) logs in", async () => {
    const result = await curl([
      "-sS", "--max-time", "20", "-u", "alice:secret", "--login-options", "AUTH=PLAIN",
      `pop3://127.0.0.1:${pop3Port}/1`,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, SEEDED);
  });

  test("smtplib authenticates and sends; Postfix receives it with the client's EHLO and address as XCLIENT passed them", async () => {
    const result = await pythonSmtpSend({
      host: "127.0.0.1",
      port: smtpPort,
      user: "alice",
      password: "secret",
      mechanism: "PLAIN",
      ehlo: "smtplib.test",
      from: "alice@example.org",
      to: ["bob@example.com"],
      message: message("Sent by smtplib through mailproxy"),
    });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    const lines = result.stdout.split("\n");
    assert.deepEqual(lines.slice(0, 3), ["AUTH 235 2.0.0 OK", "MAIL 250 2.1.0 Ok", "RCPT 250 2.1.5 Ok"]);
    assert.match(lines[3], /^DATA 250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    const messages = await delivered(postfix, "Sent by smtplib through mailproxy");
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from smtplib\.test \(unknown \[127\.0\.0\.1\]\)\n\tby backend\.test \(Postfix\) with ESMTPA id /);
  });

  test("smtplib with CRAM-MD5: the auth service returns the password and Postfix receives the mail", async () => {
    const result = await pythonSmtpSend({
      host: "127.0.0.1",
      port: smtpPort,
      user: "alice",
      password: "secret",
      mechanism: "CRAM-MD5",
      from: "alice@example.org",
      to: ["bob@example.com"],
      message: message("CRAM-MD5 through mailproxy"),
    });
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.equal(result.stdout.split("\n")[0], "AUTH 235 2.0.0 OK");
    assert.equal((await delivered(postfix, "CRAM-MD5 through mailproxy")).length, 1);
  });

  test("swaks with AUTH LOGIN from another loopback address: Received shows that address", async () => {
    const result = await swaks([
      "--server", `127.0.0.1:${smtpPort}`,
      "--local-interface", CLIENT_IP,
      "--ehlo", "swaks.test",
      "--auth", "LOGIN", "--auth-user", "alice", "--auth-password", "secret",
      "--from", "alice@example.org",
      "--to", "bob@example.com",
      "--header", "Subject: Sent by swaks through mailproxy",
      "--body", "Hello.",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /<- {2}235 2\.0\.0 OK\r?\n/);
    assert.match(result.stdout, /<- {2}250 2\.0\.0 Ok: queued as [0-9A-F]+\r?\n/);
    const messages = await delivered(postfix, "Sent by swaks through mailproxy");
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from swaks\.test \(unknown \[127\.0\.0\.5\]\)\n\tby backend\.test \(Postfix\) with ESMTPA id /);
  });

  test("swaks without AUTH under smtp_auth none: the auth service allows the relay and Postfix receives it unauthenticated", async () => {
    const before = auth.requests.length;
    const result = await swaks([
      "--server", `127.0.0.1:${smtpPort}`,
      "--local-interface", CLIENT_IP,
      "--ehlo", "relay.test",
      "--from", "carol@example.net",
      "--to", "bob@example.com",
      "--header", "Subject: Relayed by swaks",
      "--body", "Hello.",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /<- {2}250 2\.1\.5 Ok\r?\n/);
    const req = auth.requests[before];
    assert.equal(req.header("Auth-Method"), "none");
    assert.equal(req.header("Client-IP"), CLIENT_IP);
    assert.equal(req.header("Auth-SMTP-Helo"), "relay.test");
    assert.equal(req.header("Auth-SMTP-From"), "MAIL FROM:<carol@example.net>");
    assert.equal(req.header("Auth-SMTP-To"), "RCPT TO:<bob@example.com>");
    const messages = await delivered(postfix, "Relayed by swaks");
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from relay\.test \(unknown \[127\.0\.0\.5\]\)\n\tby backend\.test \(Postfix\) with ESMTP id /);
  });

  test("curl smtp:// authenticates and uploads; Postfix receives the message byte-exact in its body", async () => {
    const result = await curl([
      "-sS", "--max-time", "20",
      "--interface", CLIENT_IP,
      "-u", "alice:secret",
      "--mail-from", "alice@example.org",
      "--mail-rcpt", "bob@example.com",
      "--upload-file", "-",
      `smtp://127.0.0.1:${smtpPort}/curl.test`,
    ], { input: message("Sent by curl through mailproxy") });
    assert.equal(result.code, 0, result.stderr);
    const messages = await delivered(postfix, "Sent by curl through mailproxy");
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from curl\.test \(unknown \[127\.0\.0\.5\]\)\n\tby backend\.test \(Postfix\) with ESMTPA id /);
    assert.ok(messages[0].endsWith("\n\nSent through mailproxy.\n"), messages[0]);
  });

  test("the proxy's log names each login and never a password", () => {
    const log = proxy.log();
    assert.match(log, /client logged in, client: 127\.0\.0\.1, server: 127\.0\.0\.1:\d+, login: "alice", upstream: 127\.0\.0\.1:\d+/);
    assert.ok(!log.includes("secret"), "log leaks the password");
  });
});

/** Resolves when `port` greets with `prefix`; rejects after 20 s or when the process exits. */
async function waitForGreeting(port: number, prefix: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`mailproxy exited with ${child.exitCode}: ${output()}`);
    const line = await new Promise<string>((resolve) => {
      const socket = net.connect(port, "127.0.0.1");
      let data = "";
      socket.on("data", (d: Buffer) => {
        data += d.toString("latin1");
        if (data.includes("\r\n")) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on("error", () => resolve(""));
      socket.on("close", () => resolve(data));
    });
    if (line.startsWith(prefix)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`mailproxy did not greet on ${port}: ${output()}`);
}

describe("real clients through the compiled binary dist/mailproxy", () => {
  let dovecot: DovecotBackend;
  let postfix: PostfixBackend;
  let auth: AuthServer;
  let child: ChildProcess;
  let dir: string;
  let output = "";
  let pop3Port: number;
  let smtpPort: number;

  before(async () => {
    const binary = ensureBinary();
    [dovecot, postfix] = await Promise.all([
      startDovecot({ users: [{ user: "alice", password: "secret", messages: [SEEDED] }] }),
      startPostfix(),
    ]);
    auth = await startAuthFor(dovecot, postfix);
    [pop3Port, smtpPort] = [await freePort(), await freePort()];
    dir = tempDir("mailproxy-binary-");
    const conf = path.join(dir, "mailproxy.conf");
    fs.writeFileSync(conf, `daemon off;\nerror_log ${path.join(dir, "error.log")} info;\n` +
      serverBlocks(auth.url, pop3Port, smtpPort) + "\n");
    child = spawn(binary, ["-c", conf], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString("latin1")));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString("latin1")));
    const log = () => output + fs.readFileSync(path.join(dir, "error.log"), { encoding: "latin1", flag: "a+" });
    await waitForGreeting(pop3Port, "+OK POP3 ready <", child, log);
    await waitForGreeting(smtpPort, "220 mx.example.com ESMTP ready", child, log);
  });

  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
    }
    await auth?.close();
    await dovecot?.stop();
    await postfix?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test("poplib through the binary RETRs the seeded message byte-exact", async () => {
    const result = await pythonPop3Retr({ host: "127.0.0.1", port: pop3Port, user: "alice", password: "secret" });
    assert.equal(result.stderr, "");
    assert.equal(result.code, 0);
    assert.equal(result.stdout, SEEDED);
  });

  test("curl pop3:// through the binary RETRs the seeded message byte-exact", async () => {
    const result = await curl(["-sS", "--max-time", "20", "-u", "alice:secret", `pop3://127.0.0.1:${pop3Port}/1`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, SEEDED);
  });

  test("swaks through the binary: Postfix receives the mail with the client's address from XCLIENT", async () => {
    const result = await swaks([
      "--server", `127.0.0.1:${smtpPort}`,
      "--local-interface", CLIENT_IP,
      "--ehlo", "binary.test",
      "--auth", "PLAIN", "--auth-user", "alice", "--auth-password", "secret",
      "--from", "alice@example.org",
      "--to", "bob@example.com",
      "--header", "Subject: Through the binary",
      "--body", "Hello.",
    ]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const messages = await delivered(postfix, "Through the binary");
    assert.equal(messages.length, 1, await postfix.log());
    assert.match(messages[0], /\nReceived: from binary\.test \(unknown \[127\.0\.0\.5\]\)\n\tby backend\.test \(Postfix\) with ESMTPA id /);
  });
});
