/**
 * `auth_file`: no auth service, the proxy checks the user table and sends each
 * user to their backend. Real sockets: client → mailproxy → demo IMAP backend.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { type DemoImapServer, startDemoImap } from "../../../scripts/demo/imap_backend.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { loadConfigText } from "../../../src/config/load.ts";
import { checkHost, SYSTEM } from "../../../src/cli/host_check.ts";
import type { ConfigError } from "../../../src/config/errors.ts";
import { Logger } from "../../../src/log/logger.ts";
import { MailProxy } from "../../../src/server/mail_proxy.ts";
import { tempDir } from "../../support/temp_dir.ts";

const MESSAGE = "Subject: hello\r\n\r\nbody\r\n";
// openssl passwd -6 -salt Qx1 'alice pw'
const ALICE_SHA512 = "$6$Qx1$pI9EE55MgazaFerC7oxYJLf96gUpr.HYMpMuwTtzK.JDF.clAoZlVNVZhi5mNHxxezmMLL1t.CphMlhO2ZgeU/";
// doveadm pw -s BLF-CRYPT -p 'org pw' (any user of example.org)
const ORG_BCRYPT = "{BLF-CRYPT}$2y$05$d1zyOyUCjlHezUlGfPoV2uLp6NHIjcXJP1qP7p53k8VPLNM3LgHDe";

describe("IMAP with a user table", () => {
  let backend: DemoImapServer;
  let other: DemoImapServer;
  let dir: string;
  let usersFile: string;
  let confFile: string;
  let port: number;
  let proxy: MailProxy;

  const configText = () =>
    `error_log ${path.join(dir, "error.log")} debug;
mail {
    server_name mx.example.com;
    server {
        listen 127.0.0.1:${port};
        protocol imap;
        imap_auth plain cram-md5;
        auth_file users;
        proxy_pass 127.0.0.1:${backend.port};
    }
}
`;
  const config = () => loadConfigText(configText(), confFile).config;

  before(async () => {
    backend = await startDemoImap({
      "alice@example.com": { password: "alice pw", messages: [MESSAGE] },
      "bob@example.org": { password: "org pw", messages: [MESSAGE] },
    });
    other = await startDemoImap({ carol: { password: "carol pw", messages: [MESSAGE] } });
    dir = tempDir("mailproxy-ut-");
    usersFile = path.join(dir, "users");
    confFile = path.join(dir, "mailproxy.conf");
    fs.writeFileSync(usersFile, [
      `alice@example.com:${ALICE_SHA512}`,
      `*@example.org:${ORG_BCRYPT}`,
      `carol:{plain}carol pw:imap=127.0.0.1:${other.port}`,
      "",
    ].join("\n"));
    port = await freePort();
    proxy = new MailProxy(new Logger([{ path: path.join(dir, "error.log"), level: "debug", json: false }]));
    await proxy.start(config());
  });
  after(async () => {
    await proxy.stop(false);
    await backend.close();
    await other.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function greeted(): Promise<WireClient> {
    const c = await WireClient.connect(port);
    assert.equal(await c.line(), "* OK IMAP4 ready");
    return c;
  }

  test("CRAM-MD5 stays offered: the table can check it for {plain} users", async () => {
    const c = await greeted();
    c.send("a1 CAPABILITY\r\n");
    assert.deepEqual(await c.lines(2), ["* CAPABILITY IMAP4 IMAP4rev1 UIDPLUS AUTH=PLAIN AUTH=CRAM-MD5", "a1 OK completed"]);
    c.close();
  });

  test("a SHA512-CRYPT user logs in to the proxy_pass backend with the password the client sent", async () => {
    const c = await greeted();
    c.send('a1 LOGIN alice@example.com "alice pw"\r\n');
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    assert.deepEqual(backend.transcripts[backend.transcripts.length - 1], ["a1 LOGIN {17}\r\nalice@example.com {8}\r\nalice pw\r\n"]);
    c.close();
  });

  test("a *@domain bcrypt entry admits any user of the domain and refuses a wrong password after a delay", async () => {
    const c = await greeted();
    c.send('a1 LOGIN bob@example.org "wrong"\r\n');
    assert.equal(await c.line(), "a1 NO Invalid login or password");
    c.send('a2 LOGIN bob@example.org "org pw"\r\n');
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  });

  test("a user missing from the table is refused without reaching any backend", async () => {
    const before = backend.transcripts.length + other.transcripts.length;
    const c = await greeted();
    c.send("a1 LOGIN mallory secret\r\n");
    assert.equal(await c.line(), "a1 NO Invalid login or password");
    c.close();
    assert.equal(backend.transcripts.length + other.transcripts.length, before);
  });

  test("CRAM-MD5 of a {plain} user goes to that user's own backend with the stored password", async () => {
    const c = await greeted();
    c.send("a1 AUTHENTICATE CRAM-MD5\r\n");
    const challenge = Buffer.from((await c.line()).slice(2), "base64").toString("latin1");
    const digest = crypto.createHmac("md5", "carol pw").update(challenge).digest("hex");
    c.send(Buffer.from(`carol ${digest}`).toString("base64") + "\r\n");
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    assert.deepEqual(other.transcripts[other.transcripts.length - 1], ["a1 LOGIN {5}\r\ncarol {8}\r\ncarol pw\r\n"]);
    c.close();
  });

  test("the table is re-read on reload", async () => {
    fs.writeFileSync(usersFile, `*@example.org:{plain}org pw\n`);
    await proxy.apply(config());
    const c = await greeted();
    c.send('a1 LOGIN alice@example.com "alice pw"\r\n');
    assert.equal(await c.line(), "a1 NO Invalid login or password");
    c.send('a2 LOGIN bob@example.org "org pw"\r\n');
    assert.equal(await c.line(), "a2 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  });

  test("a broken table is refused by -t with both places, and by a reload, which keeps the table in use", async () => {
    fs.writeFileSync(usersFile, `ok:{plain}x\nbroken:plaintext\n`);
    const reason = `"auth_file" directive unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text) ` +
      `for user "broken" in ${usersFile}:2`;
    const loaded = loadConfigText(configText(), confFile);
    await assert.rejects(checkHost(loaded.config, loaded.places, { ...SYSTEM, resolves: async () => true, bind: async () => undefined }), {
      message: `${reason} in ${confFile}:8`,
    });
    await assert.rejects(proxy.apply(config()), (err: ConfigError) => {
      assert.equal(err.name, "ConfigError");
      assert.equal(err.reason, reason);
      return true;
    });
    // the table read at the last good reload still answers
    const c = await greeted();
    c.send('a1 LOGIN bob@example.org "org pw"\r\n');
    assert.equal(await c.line(), "a1 OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in");
    c.close();
  });
});
