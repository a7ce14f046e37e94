/**
 * The session core without sockets: events in, the exact actions out (writes,
 * pause/resume, timers, the auth and backend steps, closing), as the I/O shell
 * would carry them out.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { imapMachine } from "../support/imap_machine.ts";
import { SmtpPreauth } from "../../src/protocols/smtp/preauth.ts";
import { Pop3Preauth } from "../../src/protocols/pop3/preauth.ts";
import { OAUTH_ERROR_CHALLENGE } from "../../src/protocols/oauth.ts";
import { coreFor, TIMEOUT } from "../support/session_core.ts";

const IMAP_GREETING = "* OK IMAP4 ready\r\n";

function smtpMachine(delay = 0): SmtpPreauth {
  return new SmtpPreauth({
    smtp_auth: ["plain", "login", "xoauth2"],
    smtp_capabilities: [],
    smtp_client_buffer: 4096,
    max_errors: 5,
    starttls: "on",
    server_name: "mx.example.com",
    smtp_greeting_delay: delay,
    implicitTls: false,
    makeSalt: () => "<1.2@mx.example.com>",
  });
}

function pop3Machine(): Pop3Preauth {
  return new Pop3Preauth({
    pop3_auth: ["plain"],
    pop3_capabilities: ["TOP", "USER", "UIDL"],
    max_errors: 5,
    starttls: "off",
    server_name: "pop.example.com",
    implicitTls: false,
    makeSalt: () => "<1.2@pop.example.com>",
  });
}

/** An IMAP core, greeted; the greeting's actions already taken. */
function greetedImap(overrides: Parameters<typeof imapMachine>[0] = {}) {
  const made = coreFor(imapMachine(overrides));
  made.core.greet();
  made.io.take();
  return made;
}

describe("session core: greeting", () => {
  test("the greeting arms the idle timer, is written, and reading starts", () => {
    const { core, io } = coreFor(imapMachine());
    core.greet();
    assert.deepEqual(io.take(), [`arm idle ${TIMEOUT}`, `write ${IMAP_GREETING}`, "resume"]);
  });

  test("smtp_greeting_delay: the core waits while reading, then greets", () => {
    const { core, io } = coreFor(smtpMachine(500));
    core.greet();
    assert.deepEqual(io.take(), ["arm greeting 500", "resume"]);
    core.timerFired("greeting");
    assert.deepEqual(io.take(), ["pause", `arm idle ${TIMEOUT}`, "write 220 mx.example.com ESMTP ready\r\n", "resume"]);
  });

  test("a client talking during the greeting delay gets SMTP's pipelining refusal and is closed", () => {
    const { core, io } = coreFor(smtpMachine(500));
    core.greet();
    io.take();
    core.clientBytes("EHLO x\r\n");
    assert.deepEqual(io.take(), [
      "clear greeting",
      "pause",
      "write 503 5.5.0 Improper use of SMTP command pipelining\r\n",
      "log info client was rejected before greeting",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
    assert.equal(core.result, "pipelining");
  });
});

describe("session core: pre-auth dialogue and back-pressure", () => {
  test("a command is answered, reading pauses for the batch and goes on in the next turn", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a NOOP\r\n");
    assert.deepEqual(io.take(), ["pause", "write a OK completed\r\n", "arm turn 0"]);
    core.timerFired("turn");
    assert.deepEqual(io.take(), ["resume"]);
  });

  test("replies the client does not read stop the reading until drained, under the write timer", () => {
    const { core, io } = greetedImap();
    io.blocked = true;
    core.clientBytes("a NOOP\r\nb NOOP\r\n");
    assert.deepEqual(io.take(), ["pause", "write a OK completed\r\nb OK completed\r\n", `arm write ${TIMEOUT}`, "await-drain"]);
    // More bytes while replies wait are only buffered.
    core.clientBytes("c NOOP\r\n");
    assert.deepEqual(io.take(), []);
    io.blocked = false;
    core.drained();
    assert.deepEqual(io.take(), ["clear write", "pause", "write c OK completed\r\n", "arm turn 0"]);
  });

  test("a client whose unread replies pass the bound is closed", () => {
    const { core, io } = greetedImap();
    io.queuedBytes = 256 * 1024 + 1;
    core.clientBytes("a NOOP\r\n");
    assert.deepEqual(io.take(), [
      "pause",
      "write a OK completed\r\n",
      "log info client sent too many commands without reading the replies",
      "clear idle",
      "destroy",
    ]);
    assert.equal(core.result, "too-many-replies");
  });

  test("a client that does not read its replies within timeout is closed", () => {
    const { core, io } = greetedImap();
    io.blocked = true;
    core.clientBytes("a NOOP\r\n");
    io.take();
    core.timerFired("write");
    assert.deepEqual(io.take(), ["log info client timed out (110: Connection timed out) while sending response", "clear idle", "clear write", "destroy"]);
    assert.equal(core.result, "timeout");
  });

  test("an idle client is closed at timeout", () => {
    const { core, io } = greetedImap();
    core.timerFired("idle");
    assert.deepEqual(io.take(), ["log info client timed out (110: Connection timed out)", "clear idle", "destroy"]);
    core.clientClosed();
    assert.deepEqual(io.take(), ["ended"]);
  });

  test("LOGOUT answers and closes after the write, bounded by the flush timer", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGOUT\r\n");
    assert.deepEqual(io.take(), [
      "pause",
      "write * BYE\r\na OK completed\r\n",
      "clear idle",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
    assert.equal(core.result, "quit");
  });
});

describe("session core: login", () => {
  test("a login asks the auth source, logs in at the backend and relays what the client sent behind it", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john secret\r\nb NOOP\r\n");
    assert.deepEqual(io.take(), ["pause", "resume", "clear idle", "ask-auth plain 1"]);
    assert.equal(core.ctx.login, "john");
    core.authResult({ type: "ok", server: "127.0.0.1", port: 1143, pass: "backend-secret" });
    assert.deepEqual(io.take(), ["pause", "connect 127.0.0.1:1143"]);
    assert.equal(io.target?.user, "john");
    assert.equal(io.target?.pass, "backend-secret");
    assert.equal(core.ctx.upstream, "127.0.0.1:1143");
    core.backendResult({ type: "ok", toClient: "a OK LOGIN completed\r\n" });
    assert.deepEqual(io.take(), ["write a OK LOGIN completed\r\n", "log info client logged in", "relay b NOOP\r\n"]);
    // The client closing is the relay's to report.
    core.clientClosed();
    assert.deepEqual(io.take(), []);
    core.relayEnded("client-closed");
    assert.deepEqual(io.take(), ["ended"]);
  });

  test("an auth failure without Auth-Wait answers and closes", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john wrong\r\n");
    io.take();
    core.authResult({ type: "error", text: "Invalid login or password", wait: 0 });
    assert.deepEqual(io.take(), [
      'log info client login failed: "Invalid login or password"',
      "write a NO Invalid login or password\r\n",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
    assert.equal(core.result, "login-failed");
  });

  test("with Auth-Wait the failure waits, then the dialogue goes on with what the client sent meanwhile", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john wrong\r\n");
    io.take();
    core.authResult({ type: "error", text: "Invalid login or password", wait: 2 });
    assert.deepEqual(io.take(), ['log info client login failed: "Invalid login or password"', "arm auth-wait 2000"]);
    core.clientBytes("b NOOP\r\n");
    assert.deepEqual(io.take(), [], "held while the wait runs");
    core.timerFired("auth-wait");
    assert.deepEqual(io.take(), [
      "write a NO Invalid login or password\r\n",
      `arm idle ${TIMEOUT}`,
      "pause",
      "write b OK completed\r\n",
      "arm turn 0",
    ]);
    core.clientBytes("c LOGIN john right\r\n");
    assert.deepEqual(io.take(), [], "buffered until the next turn");
    core.timerFired("turn");
    assert.deepEqual(io.take(), ["pause", "resume", "clear idle", "ask-auth plain 2"]);
    assert.equal(io.credentials?.pass, "right");
  });

  test("an OAuth failure sends the RFC 7628 error challenge and closes once the client answered it", () => {
    const { core, io } = coreFor(smtpMachine());
    core.greet();
    io.take();
    const token = Buffer.from("user=john\x01auth=Bearer xyz\x01\x01", "latin1").toString("base64");
    core.clientBytes(`EHLO x\r\nAUTH XOAUTH2 ${token}\r\n`);
    io.take();
    core.authResult({ type: "error", text: "Invalid token", wait: 0 });
    assert.deepEqual(io.take(), [
      'log info client login failed: "Invalid token"',
      `write 334 ${OAUTH_ERROR_CHALLENGE}\r\n`,
      `arm idle ${TIMEOUT}`,
      "resume",
    ]);
    core.clientBytes("\r\n");
    assert.deepEqual(io.take(), [
      "pause",
      "write 535 5.7.8 Invalid token\r\n",
      "clear idle",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
  });

  test("an auth service failure is the internal error line, then close", () => {
    const { core, io } = coreFor(pop3Machine());
    core.greet();
    io.take();
    core.clientBytes("AUTH PLAIN AGpvaG4Ac2VjcmV0\r\n");
    io.take();
    core.authResult({ type: "internal", reason: "auth service down" });
    assert.deepEqual(io.take(), [
      "log error auth service down",
      "write -ERR internal server error\r\n",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
    assert.equal(core.result, "auth-error");
  });

  test("a passthrough backend's refusal is the answer, and the client may try again", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john wrong\r\n");
    core.authResult({ type: "ok", server: "127.0.0.1", port: 1143, backendDecides: true });
    io.take();
    core.backendResult({ type: "fail", reason: "refused", refusal: { text: "[AUTHENTICATIONFAILED] Nope" } });
    assert.deepEqual(io.take(), [
      'log info client login failed: "[AUTHENTICATIONFAILED] Nope"',
      "backend-refused",
      "write a NO [AUTHENTICATIONFAILED] Nope\r\n",
      `arm idle ${TIMEOUT}`,
      "resume",
    ]);
    assert.equal(core.ctx.upstream, undefined);
  });

  test("a failed backend login is the internal error, or the backend's reply with proxy_pass_error_message", () => {
    for (const pass of [false, true]) {
      const { core, io } = coreFor(imapMachine(), { proxy_pass_error_message: pass });
      core.greet();
      core.clientBytes("a LOGIN john secret\r\n");
      core.authResult({ type: "ok", server: "127.0.0.1", port: 1143 });
      io.take();
      core.backendResult({ type: "fail", reason: "backend said no", reply: "a NO [UNAVAILABLE] down\r\n" });
      assert.deepEqual(io.take(), [
        "log error backend said no",
        pass ? "write a NO [UNAVAILABLE] down\r\n" : "write * BAD internal server error\r\n",
        "close-after-write",
        `arm flush ${TIMEOUT}`,
      ]);
      assert.equal(core.result, "backend-error");
    }
  });

  test("a backend failure after the client left is logged, and nothing more is done", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john secret\r\n");
    core.authResult({ type: "ok", server: "127.0.0.1", port: 1143 });
    core.clientClosed();
    io.take();
    core.backendResult({ type: "fail", reason: "connect() failed (111: Connection refused) while connecting to upstream" });
    assert.deepEqual(io.take(), ["log error connect() failed (111: Connection refused) while connecting to upstream"]);
  });

  test("more than the hold limit sent while the auth service decides ends the session", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john secret\r\n");
    io.take();
    core.clientBytes("x".repeat(64 * 1024 + 1));
    assert.deepEqual(io.take(), ["log info client sent too much data while in http auth state", "destroy"]);
    assert.equal(core.result, "too-long");
  });

  test("a client gone during the auth request ends the session; the late answer does nothing", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john secret\r\n");
    io.take();
    core.clientClosed();
    assert.deepEqual(io.take(), ["ended"]);
    core.authResult({ type: "ok", server: "127.0.0.1", port: 1143 });
    assert.deepEqual(io.take(), []);
  });
});

describe("session core: STARTTLS", () => {
  test("STARTTLS answers, stops the idle timer, upgrades; the dialogue goes on over TLS", () => {
    const { core, io } = coreFor(smtpMachine());
    core.greet();
    io.take();
    core.clientBytes("STARTTLS\r\n");
    assert.deepEqual(io.take(), ["pause", "write 220 2.0.0 Start TLS\r\n", "clear idle", "upgrade-tls"]);
    core.tlsStarted();
    assert.deepEqual(io.take(), [`arm idle ${TIMEOUT}`, "resume"]);
    core.clientBytes("NOOP\r\n");
    assert.deepEqual(io.take(), ["pause", "write 250 2.0.0 OK\r\n", "arm turn 0"]);
  });

  test("a failed handshake closes and ends the session", () => {
    const { core, io } = coreFor(smtpMachine());
    core.greet();
    core.clientBytes("STARTTLS\r\n");
    io.take();
    core.tlsFailed("wrong version number");
    assert.deepEqual(io.take(), ["log info TLS handshake failed: wrong version number", "destroy", "ended"]);
    assert.equal(core.result, "tls-failed");
  });

  test("a refused client certificate gets the protocol's line, then close", () => {
    const { core, io } = greetedImap();
    core.tlsCertRefused("required");
    assert.deepEqual(io.take(), [
      "write * BYE No required SSL certificate\r\n",
      "clear idle",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
  });
});

describe("session core: shutdown and limits", () => {
  test("shutdown before login says the protocol's goodbye and closes", () => {
    const { core, io } = greetedImap();
    core.shutdown();
    assert.deepEqual(io.take(), ["write * BYE Server shutting down\r\n", "clear idle", "close-after-write", `arm flush ${TIMEOUT}`]);
  });

  test("shutdown during the relay leaves the relay alone", () => {
    const { core, io } = greetedImap();
    core.clientBytes("a LOGIN john secret\r\n");
    core.authResult({ type: "ok", server: "127.0.0.1", port: 1143 });
    core.backendResult({ type: "ok", toClient: "a OK\r\n" });
    io.take();
    core.shutdown();
    assert.deepEqual(io.take(), []);
  });

  test("limit_conn refuses with the protocol's line", () => {
    const { core, io } = coreFor(pop3Machine());
    core.tooManyConnections(2);
    assert.deepEqual(io.take(), [
      "log warn limit_conn per_ip=2 reached, connection refused",
      "write -ERR Too many connections\r\n",
      "close-after-write",
      `arm flush ${TIMEOUT}`,
    ]);
    assert.equal(core.result, "too-many-connections");
  });
});

describe("session core: an HTTP request on a mail port", () => {
  const POST = "POST /form HTTP/1.1\r\nHost: mail.example.com\r\nContent-Length: 30\r\n\r\na LOGIN alice secret\r\nb NOOP\r\n";

  test("is closed unanswered: none of its lines runs as a command, even split at every byte", () => {
    for (let cut = 1; cut < 24; cut++) {
      const { core, io } = greetedImap();
      core.clientBytes(POST.slice(0, cut));
      core.clientBytes(POST.slice(cut));
      assert.deepEqual(io.take().filter((a) => a !== "resume"), [
        "log info client sent HTTP request to mail port, closing",
        "clear idle",
        "close-after-write",
        `arm flush ${TIMEOUT}`,
      ], `cut at ${cut}`);
      assert.equal(io.credentials, undefined);
      assert.equal(core.result, "http-request");
    }
  });

  test("SMTP and POP3 close it the same way", () => {
    for (const machine of [smtpMachine(), pop3Machine()]) {
      const { core, io } = coreFor(machine);
      core.greet();
      io.take();
      core.clientBytes("GET / HTTP/1.0\r\n\r\n");
      assert.deepEqual(io.take(), [
        "log info client sent HTTP request to mail port, closing",
        "clear idle",
        "close-after-write",
        `arm flush ${TIMEOUT}`,
      ]);
    }
  });

  test("mail commands that begin like a request line are answered as usual", () => {
    const { core, io } = greetedImap();
    core.clientBytes("A1 NOOP");
    assert.deepEqual(io.take(), ["resume"]);
    core.clientBytes(" HTTP/1.1x\r\n");
    assert.deepEqual(io.take(), ["pause", "write A1 OK completed\r\n", "arm turn 0"]);
    const smtp = coreFor(smtpMachine());
    smtp.core.greet();
    smtp.io.take();
    smtp.core.clientBytes("EHLO client.example.com\r\n");
    assert.match(smtp.io.take().join("|"), /write 250-mx\.example\.com/);
  });
});
