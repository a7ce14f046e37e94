/**
 * The done-when of the IMAP core: an nginx user's IMAP `mail { }` block, auth_http
 * service and IMAP clients work unchanged through `dist/mailproxy`, in front of a
 * real Dovecot, from the nginx file and from its TOML twin.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type DovecotBackend, startDovecot } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";
import { curl, pythonImapFetch } from "../../support/mail_clients.ts";
import { type AuthServer, defaultAuthHandler, startAuthServer } from "../../support/auth_server.ts";
import { runBinary, type RunningBinary } from "../../support/binary.ts";

const MESSAGE = "From: a@example.org\r\nTo: carol@example.org\r\nSubject: through the proxy\r\n\r\nHello, Carol.\r\n";

function nginxConfig(port: number, authUrl: string): string {
  return `# an nginx.conf as an nginx user has it
worker_processes 1;
error_log %LOG% info;
events { worker_connections 1024; }
http { server { listen 8080; } }
mail {
    server_name mail.example.com;
    auth_http ${authUrl};
    auth_http_header X-Auth-Key "shared secret";
    proxy_pass_error_message on;
    imap_capabilities IMAP4rev1 LITERAL+ SASL-IR IDLE;
    server {
        listen 127.0.0.1:${port};
        protocol imap;
        imap_auth plain login;
    }
}
`;
}

function tomlConfig(port: number, authUrl: string): string {
  return `worker_processes = 1
error_log = ["%LOG% info"]
[events]
worker_connections = 1024
[mail]
server_name = "mail.example.com"
auth_http = "${authUrl}"
auth_http_header = [["X-Auth-Key", "shared secret"]]
proxy_pass_error_message = true
imap_capabilities = ["IMAP4rev1", "LITERAL+", "SASL-IR", "IDLE"]
[[mail.server]]
listen = ["127.0.0.1:${port}"]
protocol = "imap"
imap_auth = ["plain", "login"]
`;
}

for (const format of ["nginx", "toml"] as const) {
  describe(`dist/mailproxy in front of Dovecot (${format} config)`, () => {
    let dovecot: DovecotBackend;
    let auth: AuthServer;
    let proxy: RunningBinary;
    let port: number;

    before(async () => {
      dovecot = await startDovecot({ users: [{ user: "carol", password: "c4r0l pass", messages: [MESSAGE] }] });
      auth = await startAuthServer(defaultAuthHandler({
        carol: { password: "c4r0l pass", backend: { host: "127.0.0.1", port: dovecot.imapPort } },
      }));
      port = await freePort();
      const text = format === "nginx" ? nginxConfig(port, auth.url) : tomlConfig(port, auth.url);
      proxy = await runBinary(text, port, { fileName: format === "nginx" ? "nginx.conf" : "mailproxy.toml" });
    });

    after(async () => {
      await proxy.stop();
      await auth.close();
      await dovecot.stop();
    });

    test("Python's imaplib logs in with LOGIN and fetches the message byte-exact", async () => {
      const r = await pythonImapFetch({ host: "127.0.0.1", port, user: "carol", password: "c4r0l pass" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, MESSAGE);
      const req = auth.requests[auth.requests.length - 1];
      assert.equal(req.header("Auth-User"), "carol");
      assert.equal(req.header("Auth-Pass"), "c4r0l%20pass");
      assert.equal(req.header("X-Auth-Key"), "shared secret");
    });

    test("Python's imaplib logs in with AUTHENTICATE PLAIN", async () => {
      const r = await pythonImapFetch({ host: "127.0.0.1", port, user: "carol", password: "c4r0l pass", auth: "plain" });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, MESSAGE);
    });

    test("curl's imap:// fetches the message by UID", async () => {
      const r = await curl(["-sS", `imap://127.0.0.1:${port}/INBOX;UID=1`, "-u", "carol:c4r0l pass"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, MESSAGE);
    });

    test("a wrong password gets the auth service's text and no backend login", async () => {
      const r = await curl(["-sS", `imap://127.0.0.1:${port}/INBOX;UID=1`, "-u", "carol:wrong"]);
      assert.notEqual(r.code, 0);
      assert.match(proxy.log(), /client login failed: "Invalid login or password"/);
      assert.ok(!proxy.log().includes("c4r0l"), "the log never holds the password");
    });
  });
}
