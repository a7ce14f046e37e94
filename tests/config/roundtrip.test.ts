import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfig, loadConfigText, stripSources } from "../../src/config/load.ts";
import type { Config } from "../../src/config/model.ts";
import { toNginx } from "../../src/config/write_nginx.ts";
import { toToml } from "../../src/config/write_toml.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const examples = join(root, "examples");

/** Loads text as if it sat in `dir` (so prefix and include base match the original). */
const reload = (text: string, dir: string, ext: string): Config => loadConfigText(text, join(dir, `roundtrip${ext}`)).config;

function assertRoundTrips(config: Config, dir: string): void {
  const viaToml = reload(toToml(config), dir, ".toml");
  assert.deepEqual(stripSources(viaToml), stripSources(config), "nginx → toml");
  const viaNginx = reload(toNginx(viaToml), dir, ".conf");
  assert.deepEqual(stripSources(viaNginx), stripSources(config), "toml → nginx");
  assert.equal(toNginx(viaNginx), toNginx(config));
}

/** The fenced blocks of a language in a markdown text. */
function fenced(markdown: string, lang: string): string[] {
  const re = new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g");
  return [...markdown.matchAll(re)].map((m) => m[1]!);
}

describe("round trips through both writers", () => {
  for (const name of readdirSync(examples).sort()) {
    test(`examples/${name} survives nginx → toml → nginx with an equal model`, () => {
      assertRoundTrips(loadConfig(join(examples, name)).config, examples);
    });
  }

  test("the nginx and TOML examples are twins", () => {
    assert.deepEqual(
      stripSources(loadConfig(join(examples, "nginx.conf")).config),
      stripSources(loadConfig(join(examples, "mailproxy.toml")).config),
    );
  });

  test("the docs example, both spellings, loads to equal models and round trips", () => {
    const doc = readFileSync(join(root, "docs/config.md"), "utf8");
    const [nginxText] = fenced(doc, "nginx");
    const [tomlText] = fenced(doc, "toml");
    assert.ok(nginxText && tomlText);
    const fromNginx = reload(nginxText, examples, ".conf");
    const fromToml = reload(tomlText, examples, ".toml");
    assert.deepEqual(stripSources(fromNginx), stripSources(fromToml));
    assertRoundTrips(fromNginx, examples);
    const spec = stripSources(fromNginx).mail!.settings;
    assert.deepEqual(spec.smtp_capabilities?.slice(0, 2), ["SIZE 10485760", "8BITMIME"]);
    assert.equal(spec.xclient, false);
    assert.deepEqual(spec.pop3_auth, ["plain", "apop"]);
  });

  test("a configuration using every directive and odd words round trips", () => {
    const text = `
worker_processes auto; error_log stderr debug json; pid "/run/mail proxy.pid"; daemon off; user mail;
worker_rlimit_nofile 4096; worker_shutdown_timeout 1m30s;
events { worker_connections 64; }
mail {
  server_name mx.example; timeout 1s500ms; max_errors 0; resolver 10.0.0.1:5353 [::1] valid=1h ipv4=off;
  resolver_timeout 2s; error_log /var/log/m.log info;
  auth_http unix:/run/auth.sock:/check; auth_http_header "X-Key" "a \\"quoted\\" {value}; #not-a-comment";
  auth_http_header X-Tab "a\\tb"; auth_http_pass_client_cert on; auth_http_timeout 5s; auth_http_keepalive 0;
  proxy_buffer 8k; proxy_pass_error_message on; proxy_protocol v2; proxy_smtp_auth on; proxy_timeout 10m;
  xclient off; proxy on; set_real_ip_from 192.168.0.0/16; starttls only;
  ssl_certificate rsa.crt; ssl_certificate ec.crt; ssl_certificate_key rsa.key; ssl_certificate_key ec.key;
  ssl_password_file pw; ssl_certificate_compression on; ssl_ciphers "ECDHE:!aNULL"; ssl_prefer_server_ciphers on;
  ssl_protocols TLSv1.3; ssl_dhparam dh.pem; ssl_ecdh_curve X25519; ssl_session_cache shared:SSL:1m;
  ssl_session_timeout 1d; ssl_session_tickets off; ssl_session_ticket_key t1.key; ssl_verify_client optional;
  ssl_verify_depth 3; ssl_client_certificate ca.pem; ssl_trusted_certificate trust.pem; ssl_crl crl.pem;
  ssl_conf_command Options PrioritizeChaCha;
  imap_auth login cram-md5 external; imap_capabilities IMAP4rev1 "X WEIRD\\\\THING"; imap_client_buffer 1000;
  pop3_auth apop external; pop3_capabilities TOP "EXPIRE 0"; smtp_auth none cram-md5;
  smtp_capabilities "SIZE 1" DSN; smtp_client_buffer 2m; smtp_greeting_delay 100ms;
  sieve_auth plain oauthbearer; sieve_capabilities fileinto "comparator-i;ascii-numeric"; sieve_client_buffer 64k;
  server {
    listen 127.0.0.1:10000-10002 proxy_protocol backlog=10 rcvbuf=1000 sndbuf=64k bind so_keepalive=on;
    listen [::]:10143 ipv6only=off multipath so_keepalive=10:20:3 default_server;
    listen unix:/run/m.sock;
    protocol imap;
    ssl_session_cache off;
  }
  server { listen 995 ssl; listen 1995 ssl; protocol pop3; ssl_session_cache builtin builtin:10; }
  server { listen 25; proxy_pass relay.example:2525; resolver off; }
  server { listen 4190; listen 14190; proxy_pass sieve.example:4190; }
  server { listen 127.0.0.1:4191; protocol sieve; proxy_pass sieve.example:4190; }
}`;
    const { config } = loadConfigText(text, join(examples, "every.conf"));
    assertRoundTrips(config, examples);
  });
});
