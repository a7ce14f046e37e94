import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadConfigText, stripSources } from "../../src/config/load.ts";
import { toNginx } from "../../src/config/write_nginx.ts";
import { toToml } from "../../src/config/write_toml.ts";

const NGINX = `mail {
  auth_http 127.0.0.1:9001 http://127.0.0.1:9002/auth unix:/run/auth.sock:/check;
  auth_http_cache valid=30s max=200;
  server { listen 143; protocol imap; imap_auth plain xoauth2 oauthbearer; }
  server { listen 110; protocol pop3; pop3_auth plain oauthbearer; auth_http_cache off; }
  server { listen 25; protocol smtp; smtp_auth login xoauth2; auth_http 127.0.0.1:9003; }
}
`;

describe("auth_http with several URLs and auth_http_cache in the config", () => {
  test("nginx syntax keeps every auth_http URL in order and the cache settings", () => {
    const mail = loadConfigText(NGINX, "/cfg/m.conf").config.mail!;
    const http = mail.settings.auth_http!;
    assert.equal(http.url, "127.0.0.1:9001");
    assert.deepEqual(http.fallbacks!.map((u) => u.url), ["http://127.0.0.1:9002/auth", "unix:/run/auth.sock:/check"]);
    assert.deepEqual(mail.settings.auth_http_cache, { valid: 30000, max: 200 });
    assert.equal(mail.servers[1]!.settings.auth_http_cache, null);
    assert.equal(mail.servers[2]!.settings.auth_http!.fallbacks, undefined);
    assert.deepEqual(mail.servers[0]!.settings.imap_auth, ["plain", "xoauth2", "oauthbearer"]);
    assert.deepEqual(mail.servers[1]!.settings.pop3_auth, ["plain", "oauthbearer"]);
    assert.deepEqual(mail.servers[2]!.settings.smtp_auth, ["login", "xoauth2"]);
  });

  test("the TOML twin reads an array of URLs and the model survives nginx → TOML → nginx", () => {
    const config = loadConfigText(NGINX, "/cfg/m.conf").config;
    const toml = toToml(config);
    assert.match(toml, /auth_http = "127\.0\.0\.1:9001 http:\/\/127\.0\.0\.1:9002\/auth unix:\/run\/auth\.sock:\/check"/);
    assert.match(toml, /auth_http_cache = "valid=30s max=200"/);
    const viaToml = loadConfigText(toml, "/cfg/m.toml").config;
    assert.deepEqual(stripSources(viaToml), stripSources(config));
    const viaNginx = loadConfigText(toNginx(viaToml), "/cfg/m.conf").config;
    assert.deepEqual(stripSources(viaNginx), stripSources(config));

    const fromArray = loadConfigText(
      '[mail]\nauth_http = ["127.0.0.1:9001", "127.0.0.1:9002"]\nauth_http_cache = "valid=1m"\n[[mail.server]]\nlisten = ["143"]\n',
      "/cfg/m.toml",
    ).config.mail!.settings;
    assert.deepEqual([fromArray.auth_http!.url, ...fromArray.auth_http!.fallbacks!.map((u) => u.url)], ["127.0.0.1:9001", "127.0.0.1:9002"]);
    assert.deepEqual(fromArray.auth_http_cache, { valid: 60000, max: 10000 });
  });

  test("a single auth_http URL is the same model as before (no fallbacks key)", () => {
    const http = loadConfigText("mail { auth_http 127.0.0.1:9000/a; server { listen 143; } }", "/cfg/m.conf").config.mail!.settings.auth_http;
    assert.deepEqual(http, { kind: "tcp", url: "127.0.0.1:9000/a", host: "127.0.0.1", port: 9000, uri: "/a" });
  });

  test("a bad URL among several and a cache without valid= are refused with the line", () => {
    assert.throws(() => loadConfigText("mail {\nauth_http 127.0.0.1:1 127.0.0.1:0;\n}", "/cfg/m.conf"), /invalid port in auth_http "127\.0\.0\.1:0" in \/cfg\/m\.conf:2/);
    assert.throws(() => loadConfigText("mail {\nauth_http_cache max=3;\n}", "/cfg/m.conf"), /invalid or missing "valid=" value in \/cfg\/m\.conf:2/);
    assert.throws(() => loadConfigText("mail {\nauth_http_cache valid=5s max=0;\n}", "/cfg/m.conf"), /invalid value "max=0" in \/cfg\/m\.conf:2/);
  });
});
