/**
 * The done-when of the "no auth service" issue: a site with one IMAP server puts
 * mailproxy with TLS in front of it with one command, and a real client logs in.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { type DovecotBackend, makeTestCertificate, startDovecot, type TestCertificate } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { curl, pythonImapFetch } from "../../support/mail_clients.ts";
import { ensureBinary, waitForPort } from "../../support/binary.ts";

const MESSAGE = "From: a@example.org\r\nSubject: one command\r\n\r\nNo auth service needed.\r\n";

describe("mailproxy serve --listen ADDR ssl --upstream HOST:PORT", () => {
  let dovecot: DovecotBackend;
  let cert: TestCertificate;
  let child: ChildProcess;
  let port: number;
  let output = "";

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: "dave", password: "d4ve", messages: [MESSAGE] }] });
    cert = makeTestCertificate();
    port = await freePort();
    child = spawn(ensureBinary(), [
      "serve",
      "--listen", `127.0.0.1:${port} ssl`,
      "--protocol", "imap",
      "--upstream", `127.0.0.1:${dovecot.imapPort}`,
      "--ssl-certificate", cert.certFile,
      "--ssl-certificate-key", cert.keyFile,
    ], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout!.on("data", (d) => (output += d));
    child.stderr!.on("data", (d) => (output += d));
    await waitForPort(port);
  });

  after(async () => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
    cert.remove();
    await dovecot.stop();
  });

  test("imaplib over implicit TLS, verifying the certificate, fetches the message from Dovecot", async () => {
    const r = await pythonImapFetch({ host: "127.0.0.1", port, user: "dave", password: "d4ve", ssl: true, cafile: cert.caFile });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, MESSAGE);
  });

  test("curl imaps:// with a wrong password gets Dovecot's own refusal", async () => {
    const r = await curl(["-sS", "-v", "--cacert", cert.caFile, `imaps://127.0.0.1:${port}/INBOX;UID=1`, "-u", "dave:nope"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /NO \[AUTHENTICATIONFAILED\]/);
    assert.match(output, /client login failed: ".*AUTHENTICATIONFAILED/);
  });
});
