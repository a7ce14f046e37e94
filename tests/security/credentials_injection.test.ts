/**
 * Client bytes that a backend's command syntax cannot carry never reach it (issue
 * 13.5, 13.8): CR/LF/NUL in POP3 credentials, NUL in IMAP and SMTP ones, control
 * bytes in SMTP HELO/MAIL/RCPT, and `x-*` ID fields dressed up with a leading space.
 * Passthrough mode, so no auth service stands between the client and the backend.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { passthroughProxy as passthrough, type RunningProxy } from "../support/proxy.ts";
import { WireClient } from "../support/wire.ts";
import { type ScriptedBackend, startScriptedBackend } from "../support/scripted_backend.ts";

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");


describe("credentials a POP3 backend cannot carry", () => {
  let backend: ScriptedBackend;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startScriptedBackend((c) => c.send("+OK ready\r\n"));
    setup = await passthrough("pop3", backend.port, "pop3_auth plain;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("AUTH PLAIN with CR/LF in the user name gets -ERR, and the backend hears nothing", async () => {
    const c = await WireClient.connect(setup.port);
    assert.equal(await c.line(), "+OK POP3 ready");
    c.send(`AUTH PLAIN ${b64("\0alice\r\nDELE 1\r\nQUIT\0secret")}\r\n`);
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "+ VXNlcm5hbWU6");
    c.send(`${b64("alice")}\r\n`);
    assert.equal(await c.line(), "+ UGFzc3dvcmQ6");
    c.send(`${b64("pw\r\nDELE 1")}\r\n`);
    assert.equal(await c.line(), "-ERR invalid command");
    c.send("USER al\0ice\r\nPASS pw\r\n");
    assert.deepEqual(await c.lines(2), ["+OK", "-ERR invalid command"]);
    c.send("QUIT\r\n");
    assert.equal(await c.line(), "+OK");
    c.close();
    assert.equal(backend.connections.length, 0);
  });
});

describe("SMTP texts that are passed on", () => {
  let backend: ScriptedBackend;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startScriptedBackend((c) => c.send("220 backend ready\r\n"));
    setup = await passthrough("smtp", backend.port, "smtp_auth plain login;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("HELO, MAIL and RCPT with NUL, TAB, VT, FF or DEL get 501, and AUTH with NUL in the password 500", async () => {
    const c = await WireClient.connect(setup.port);
    assert.match(await c.line(), /^220 /);
    for (const bad of ["EHLO a\0b", "HELO a\tb", "EHLO a\x0bb", "HELO a\x0cb", "EHLO a\x7fb", "MAIL FROM:<a\0@b>", "RCPT TO:<\tc@d>"]) {
      c.send(`${bad}\r\n`);
      assert.equal(await c.line(), "501 5.5.4 Invalid argument", JSON.stringify(bad));
    }
    c.send("EHLO client.example\r\n");
    assert.deepEqual(await c.lines(2), ["250-mx.example.com", "250 AUTH PLAIN LOGIN"]);
    c.send("AUTH LOGIN\r\n");
    assert.equal(await c.line(), "334 VXNlcm5hbWU6");
    c.send(`${b64("alice")}\r\n`);
    assert.equal(await c.line(), "334 UGFzc3dvcmQ6");
    c.send(`${b64("pw\0x")}\r\n`);
    assert.equal(await c.line(), "500 5.5.1 Invalid command");
    c.close();
    assert.equal(backend.connections.length, 0);
  });
});
