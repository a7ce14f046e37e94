/**
 * ManageSieve (issue 17) in front of Debian's real Pigeonhole: a client logs in through
 * auth_http, stores a script and reads it back byte for byte; the script files a message
 * delivered straight to Dovecot's LMTP (no Postfix in between) into its folder, seen over
 * IMAP; sieve-connect does STARTTLS and its own login; wrong passwords are refused with the
 * auth service's words, or with Dovecot's own behind the passthrough backend.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type DovecotBackend, makeTestCertificate, startDovecot, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { run } from "../../support/mail_clients.ts";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";

const b64 = (text: string) => Buffer.from(text, "latin1").toString("base64");
const utf8 = (text: string) => Buffer.from(text, "utf8").toString("latin1");

/** A Sieve script with CRLF lines and UTF-8 (as bytes) that files "[proj]" mail into Projects. */
const SCRIPT = utf8(
  '# Projekt-Post für Alice\r\nrequire ["fileinto", "mailbox"];\r\n' +
    'if header :contains "subject" "[proj]" {\r\n  fileinto :create "Projects";\r\n}\r\n',
);

/** One whole ManageSieve response (up to its OK/NO/BYE line, literals included), as sent. */
async function response(c: WireClient): Promise<string> {
  let text = "";
  for (;;) {
    const line = await c.line();
    text += line + "\r\n";
    const literal = /\{(\d+)\}$/.exec(line);
    if (literal) text += await c.bytes(Number(literal[1]));
    else if (/^(OK|NO|BYE)\b/.test(line)) return text;
  }
}

async function command(c: WireClient, text: string): Promise<string> {
  c.send(text);
  return await response(c);
}

/** Delivers `message` to `rcpt` over Dovecot's LMTP; the final reply line. */
async function deliverLmtp(port: number, rcpt: string, message: string): Promise<string> {
  const c = await WireClient.connect(port);
  try {
    assert.match(await c.line(), /^220 /);
    c.send("LHLO test.example\r\n");
    while (!(await c.line()).startsWith("250 "));
    c.send(`MAIL FROM:<bob@example.org>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\n`);
    assert.match(await c.line(), /^250 /);
    assert.match(await c.line(), /^250 /);
    assert.match(await c.line(), /^354 /);
    c.send(message + ".\r\nQUIT\r\n");
    return await c.line(30_000);
  } finally {
    c.close();
  }
}

/** The number of messages in `folder`, over IMAP straight to Dovecot. */
async function imapCount(port: number, folder: string): Promise<number> {
  const c = await WireClient.connect(port);
  try {
    await c.line();
    c.send(`a1 LOGIN alice secret\r\na2 EXAMINE ${folder}\r\n`);
    for (;;) {
      const line = await c.line();
      const exists = /^\* (\d+) EXISTS$/.exec(line);
      if (exists) return Number(exists[1]);
      if (/^a2 (NO|BAD)/.test(line)) return -1;
    }
  } finally {
    c.close();
  }
}

describe("ManageSieve through mailproxy in front of Pigeonhole", () => {
  let dovecot: DovecotBackend;
  let auth: AuthServer;
  let cert: TestCertificate;
  let proxy: RunningProxy;
  let port: number;
  let passthroughPort: number;

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: "alice", password: "secret" }], sieve: true });
    auth = await startAuthServer(defaultAuthHandler({ alice: { password: "secret", backend: { host: "127.0.0.1", port: dovecot.sievePort } } }));
    cert = makeTestCertificate();
    [port, passthroughPort] = [await freePort(), await freePort()];
    proxy = await startProxy(`mail {
      server_name mx.example.com;
      ssl_certificate ${cert.certFile};
      ssl_certificate_key ${cert.keyFile};
      timeout 10s;
      server { listen 127.0.0.1:${port}; protocol sieve; auth_http ${auth.url}; starttls on; }
      server { listen 127.0.0.1:${passthroughPort}; protocol sieve; proxy_pass 127.0.0.1:${dovecot.sievePort}; }
    }`);
  });

  after(async () => {
    await proxy?.stop();
    await auth?.close();
    await dovecot?.stop();
    cert?.remove();
  });

  test("a login through auth_http; PUTSCRIPT, SETACTIVE and GETSCRIPT round-trip the script byte for byte; it files LMTP mail", async () => {
    const c = await WireClient.connect(port);
    try {
      const greeting = await response(c);
      assert.match(greeting, /^"IMPLEMENTATION" "mailproxy"\r\n"SIEVE" "fileinto .*"\r\n"NOTIFY" "mailto"\r\n"SASL" "PLAIN"\r\n"STARTTLS"\r\n"VERSION" "1.0"\r\nOK "ManageSieve ready."\r\n$/);
      const before = auth.requests.length;
      const token = b64("\0alice\0secret");
      assert.equal(await command(c, `AUTHENTICATE "PLAIN" {${token.length}+}\r\n${token}\r\n`), 'OK "Logged in."\r\n');
      const request = auth.requests[before]!;
      assert.equal(request.header("Auth-Protocol"), "sieve");
      assert.equal(request.header("Auth-Method"), "plain");
      assert.equal(request.user, "alice");

      assert.equal(await command(c, `PUTSCRIPT "projects" {${SCRIPT.length}+}\r\n${SCRIPT}\r\n`), 'OK "PUTSCRIPT completed."\r\n');
      assert.equal(await command(c, 'SETACTIVE "projects"\r\n'), 'OK "Setactive completed."\r\n');
      assert.equal(await command(c, 'GETSCRIPT "projects"\r\n'), `{${SCRIPT.length}}\r\n${SCRIPT}\r\nOK "Getscript completed."\r\n`);
      assert.equal(await command(c, "LISTSCRIPTS\r\n"), '"projects" ACTIVE\r\nOK "Listscripts completed."\r\n');
      assert.equal(await command(c, "LOGOUT\r\n"), 'OK "Logout completed."\r\n');
    } finally {
      c.close();
    }

    const filed = "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: [proj] kickoff\r\n\r\nSee you there.\r\n";
    const other = "From: bob@example.org\r\nTo: alice@example.org\r\nSubject: lunch\r\n\r\nNoon?\r\n";
    assert.match(await deliverLmtp(dovecot.lmtpPort, "alice", filed), /^250 /, await dovecot.log());
    assert.match(await deliverLmtp(dovecot.lmtpPort, "alice", other), /^250 /);
    assert.equal(await imapCount(dovecot.imapPort, "Projects"), 1, await dovecot.log());
    assert.equal(await imapCount(dovecot.imapPort, "INBOX"), 1);
  });

  test("STARTTLS with sieve-connect: the capabilities again over TLS, its own login, the script listed and downloaded", async () => {
    const dir = fs.mkdtempSync(path.join(cert.dir, "sc-"));
    const local = path.join(dir, "up.sieve");
    fs.writeFileSync(local, Buffer.from(SCRIPT, "latin1"));
    const common = ["--server", "127.0.0.1", "--port", String(port), "--user", "alice", "--passwordfd", "0",
      "--tlscafile", cert.caFile, "--tlshostname", "localhost", "--authmech", "PLAIN"];
    const upload = await run("sieve-connect", [...common, "--upload", "--localsieve", local, "--remotesieve", "uploaded"], { input: "secret\n" });
    assert.equal(upload.code, 0, upload.stderr);
    const list = await run("sieve-connect", [...common, "--list"], { input: "secret\n" });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^"uploaded"$/m);
    const downloaded = path.join(dir, "down.sieve");
    const down = await run("sieve-connect", [...common, "--download", "--remotesieve", "uploaded", "--localsieve", downloaded], { input: "secret\n" });
    assert.equal(down.code, 0, down.stderr);
    assert.equal(fs.readFileSync(downloaded).toString("latin1"), SCRIPT);
    assert.equal(auth.requests.at(-1)!.header("Auth-SSL"), "on", "sieve-connect logged in over TLS");
  });

  test("STARTTLS by hand: OK, the handshake, then the capabilities re-issued without STARTTLS", async () => {
    const c = await WireClient.connect(port);
    try {
      await response(c);
      assert.equal(await command(c, "STARTTLS\r\n"), 'OK "Begin TLS negotiation now."\r\n');
      const secure = await c.startTls({ ca: cert.ca, servername: "localhost", rejectUnauthorized: true });
      const again = await response(secure);
      assert.match(again, /"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\nOK "TLS negotiation successful."\r\n$/);
      assert.doesNotMatch(again, /STARTTLS/);
      secure.close();
    } finally {
      c.close();
    }
  });

  test("a wrong password is refused with the auth service's text", async () => {
    const c = await WireClient.connect(port);
    try {
      await response(c);
      assert.equal(await command(c, `AUTHENTICATE "PLAIN" "${b64("\0alice\0wrong")}"\r\n`), 'NO "Invalid login or password"\r\n');
      assert.equal(await c.rest(), "", "no Auth-Wait: the proxy closes");
    } finally {
      c.close();
    }
  });

  test("passthrough: Dovecot's own refusal reaches the client, who may retry and log in", async () => {
    const c = await WireClient.connect(passthroughPort);
    try {
      await response(c);
      assert.equal(await command(c, `AUTHENTICATE "PLAIN" "${b64("\0alice\0wrong")}"\r\n`), 'NO "Authentication failed."\r\n', proxy.log());
      c.send('AUTHENTICATE "PLAIN"\r\n');
      assert.equal(await c.line(), '""', "the empty SASL challenge");
      assert.equal(await command(c, `"${b64("\0alice\0secret")}"\r\n`), 'OK "Logged in."\r\n');
      assert.match(await command(c, "LISTSCRIPTS\r\n"), /"projects" ACTIVE\r\n/);
    } finally {
      c.close();
    }
  });
});
