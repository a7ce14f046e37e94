import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { hostname } from "node:os";
import { effectiveServer } from "../../src/config/effective.ts";
import { effectiveServers } from "../../src/config/load.ts";
import { load } from "../support/config.ts";

function servers(text: string) {
  return effectiveServers(load(text).config);
}

describe("mail → server inheritance", () => {
  test("a server value wins, else the mail value, else the default", () => {
    const [a, b] = servers(
      "mail { auth_http a:1; timeout 10s; server { listen 143; timeout 5s; } server { listen 110; } }",
    );
    assert.equal(a!.timeout, 5000);
    assert.equal(b!.timeout, 10000);
    assert.equal(b!.proxy_timeout, 86400000);
  });

  test("lists are never merged across levels", () => {
    const [a, b] = servers(
      "mail { auth_http a:1; imap_capabilities IMAP4rev1 IDLE; auth_http_header X-A 1; imap_auth plain cram-md5;" +
        " server { listen 143; imap_capabilities UIDPLUS; auth_http_header X-B 2; imap_auth login; }" +
        " server { listen 993; } }",
    );
    assert.deepEqual(a!.imap_capabilities, ["UIDPLUS"]);
    assert.deepEqual(a!.auth_http_header, [["X-B", "2"]]);
    assert.deepEqual(a!.imap_auth, ["login"]);
    assert.deepEqual(b!.imap_capabilities, ["IMAP4rev1", "IDLE"]);
    assert.deepEqual(b!.auth_http_header, [["X-A", "1"]]);
    assert.deepEqual(b!.imap_auth, ["plain", "cram-md5"]);
  });

  test("certificates are inherited as a whole list", () => {
    const [a, b] = servers(
      "mail { auth_http a:1; ssl_certificate r.crt; ssl_certificate e.crt; ssl_certificate_key r.key; ssl_certificate_key e.key;" +
        " server { listen 993 ssl; } server { listen 995 ssl; ssl_certificate o.crt; ssl_certificate_key o.key; } }",
    );
    assert.deepEqual(a!.ssl_certificate, ["/cfg/r.crt", "/cfg/e.crt"]);
    assert.deepEqual(b!.ssl_certificate, ["/cfg/o.crt"]);
    assert.deepEqual(b!.ssl_certificate_key, ["/cfg/o.key"]);
  });

  test("server_name set at mail level is every server's name", () => {
    const [a] = servers("mail { auth_http a:1; server_name mx.example; server { listen 25; } }");
    assert.equal(a!.server_name, "mx.example");
  });

  test("the built-in defaults", () => {
    const [s] = servers("mail { auth_http a:1; server { listen 143; } }");
    assert.equal(s!.server_name, hostname().toLowerCase());
    assert.equal(s!.timeout, 60000);
    assert.equal(s!.max_errors, 5);
    assert.equal(s!.resolver, null);
    assert.equal(s!.resolver_timeout, 30000);
    assert.equal(s!.auth_http_timeout, 60000);
    assert.equal(s!.auth_http_keepalive, 32);
    assert.equal(s!.proxy_buffer, 4096);
    assert.equal(s!.imap_client_buffer, 4096);
    assert.equal(s!.smtp_client_buffer, 4096);
    assert.equal(s!.xclient, true);
    assert.equal(s!.proxy_protocol, "off");
    assert.equal(s!.starttls, "off");
    assert.deepEqual(s!.ssl_protocols, ["TLSv1.2", "TLSv1.3"]);
    assert.equal(s!.ssl_ciphers, "HIGH:!aNULL:!MD5");
    assert.equal(s!.ssl_session_timeout, 300000);
    assert.deepEqual(s!.ssl_session_cache, { mode: "none" });
    assert.equal(s!.ssl_verify_depth, 1);
    assert.deepEqual(s!.imap_auth, ["plain"]);
    assert.deepEqual(s!.imap_capabilities, ["IMAP4", "IMAP4rev1", "UIDPLUS"]);
    assert.deepEqual(s!.pop3_auth, ["plain"]);
    assert.deepEqual(s!.pop3_capabilities, ["TOP", "USER", "UIDL"]);
    assert.deepEqual(s!.smtp_auth, ["plain", "login"]);
    assert.deepEqual(s!.smtp_capabilities, []);
    assert.equal(s!.smtp_greeting_delay, 0);
    assert.deepEqual(s!.error_log, []);
    assert.equal(s!.ssl_dhparam, undefined);
    assert.equal(s!.proxy_pass, undefined);
    assert.equal(s!.protocol, "imap");
  });

  test("the effective server is a copy: changing it leaves the model alone", () => {
    const { config } = load("mail { auth_http a:1; imap_capabilities A; server { listen 143; } }");
    const s = effectiveServer(config.mail!, config.mail!.servers[0]!);
    s.imap_capabilities.push("B");
    assert.deepEqual(config.mail!.settings.imap_capabilities, ["A"]);
  });
});

describe("repeating a directive at one level (§3)", () => {
  const settingsOf = (inServer: string) => load(`mail { auth_http a:1; server { listen 143; ${inServer} } }`).config.mail!.servers[0]!.settings;
  test("capabilities append in order", () => {
    assert.deepEqual(settingsOf("imap_capabilities A B; imap_capabilities C;").imap_capabilities, ["A", "B", "C"]);
  });
  test("auth methods are united", () => {
    assert.deepEqual(settingsOf("smtp_auth plain; smtp_auth cram-md5 plain;").smtp_auth, ["plain", "cram-md5"]);
  });
  test("ssl_session_cache keeps earlier parameters a later one doesn't name", () => {
    assert.deepEqual(settingsOf("ssl_session_cache builtin:100; ssl_session_cache shared:S:1m;").ssl_session_cache, {
      mode: "cache",
      builtin: 100,
      shared: { name: "S", size: 1048576 },
    });
    assert.deepEqual(settingsOf("ssl_session_cache shared:S:1m; ssl_session_cache off;").ssl_session_cache, { mode: "off" });
  });
  test("error_log appends", () => {
    assert.equal(settingsOf("error_log a; error_log b debug;").error_log!.length, 2);
  });
});
