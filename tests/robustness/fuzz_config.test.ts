/**
 * The configuration loader fuzzed: the nginx tokenizer and parser, the TOML
 * mapping and the directive interpreter, fed mutated valid configurations and
 * random text. A configuration is either loaded or refused with a ConfigError
 * (the message `mailproxy -t` prints); nothing else may escape.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { parseNginx } from "../../src/config/nginx/parser.ts";
import { binary, hostileInput, runs } from "../support/fuzz.ts";
import { tempDir } from "../support/temp_dir.ts";

// An empty folder: `include` patterns a mutation makes up find nothing there.
const DIR = tempDir("mailproxy-fuzz-config-");
after(() => fs.rmSync(DIR, { recursive: true, force: true }));

const NGINX = [
  `worker_processes 2; daemon off; pid /run/m.pid; error_log stderr info;
events { worker_connections 1024; }
mail {
  server_name mx.example.com;
  auth_http 127.0.0.1:9000/auth;
  auth_http_header X-Auth-Key "secret value";
  auth_http_timeout 5s;
  proxy_pass_error_message on;
  imap_capabilities IMAP4rev1 UIDPLUS "IDLE";
  imap_auth plain login cram-md5;
  smtp_auth login plain none;
  smtp_capabilities "SIZE 10485760" 8BITMIME;
  xclient off;
  timeout 90; proxy_timeout 1h30m; max_errors 3; imap_client_buffer 8k;
  server { listen 127.0.0.1:143; protocol imap; }
  server { listen [::1]:110 proxy_protocol; protocol pop3; starttls on; }
  server { listen 25 backlog=100 so_keepalive=on; protocol smtp; smtp_greeting_delay 250ms; resolver 127.0.0.1 valid=30s; }
}`,
  "mail { auth_http unix:/run/auth.sock:/auth; server { listen 993 ssl; protocol imap; ssl_protocols TLSv1.2 TLSv1.3; } }",
  "mail { auth_http 127.0.0.1:9000; server { listen 143; } } # comment\n",
  "mail { server { listen 110; protocol pop3; pop3_auth plain apop cram-md5; proxy_pass 127.0.0.1:1110; } }",
  'mail { auth_http 127.0.0.1:9000; server { listen 587; protocol smtp; set_real_ip_from 10.0.0.0/8; auth_http_header "X-A" \'b\\"c\'; } }',
];

const TOML = [
  `worker_processes = 4
daemon = false
error_log = ["stderr info", { file = "/var/log/m.log", level = "warn", json = true }]
[events]
worker_connections = 100
[mail]
auth_http = "127.0.0.1:9000"
timeout = 90
proxy_timeout = "1h30m"
imap_capabilities = ["IMAP4rev1", "UIDPLUS", "IDLE"]
auth_http_header = [["X-Auth-Key", "secret"]]
[[mail.server]]
listen = ["143"]
protocol = "imap"
[[mail.server]]
listen = [{ address = "110", proxy_protocol = true }]
protocol = "pop3"
`,
  `[mail]
auth_http = "127.0.0.1:9000"
max_errors = 3
imap_client_buffer = "8k"
[[mail.server]]
listen = "25"
protocol = "smtp"
smtp_auth = ["plain", "none"]
`,
];

const NGINX_TOKENS = [
  ";", "{", "}", " ", "\n", '"', "'", "\\", "#", "$", "${", "server {", "mail {", "listen ", "protocol ", "include ", "*.conf",
  "ssl", "on", "off", "0", "-1", "99999999999999999999", "1k", "1m", "1g", "1h", "1d", "1y", "ms", "[::1]:", "unix:", ":0",
  "auth_http ", "resolver ", "max_errors ", "timeout ", "\0", "\xff", "\t", "\r",
];

const TOML_TOKENS = [
  "=", "[", "]", "[[", "]]", "{", "}", ",", '"', "'", "'''", '"""', "\n", " ", "#", "true", "false", "-1", "1e400", "0x10",
  "1979-05-27", "inf", "nan", "mail.", "server", "listen", "[[mail.server]]", "\\u0000", "\\", "\0",
];

function loadsOrRefuses(text: string, file: string): void {
  try {
    loadConfigText(text, path.join(DIR, file));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError for ${JSON.stringify(text)}: ${(e as Error)?.stack ?? e}`);
    assert.ok(e.message.length > 0);
    assert.ok(!e.message.includes("undefined"), `message mentions undefined: ${e.message}`);
  }
}

describe("configuration loader under fuzzing", () => {
  test("mutated and random nginx configurations load or are refused with a ConfigError", () => {
    fc.assert(
      fc.property(hostileInput(NGINX, NGINX_TOKENS, 400), (text) => loadsOrRefuses(text, "mail.conf")),
      runs(1500),
    );
  });

  test("mutated and random TOML configurations load or are refused with a ConfigError", () => {
    fc.assert(
      fc.property(hostileInput(TOML, TOML_TOKENS, 400), (text) => loadsOrRefuses(text, "mail.toml")),
      runs(1500),
    );
  });

  test("the nginx parser gives statements or a syntax ConfigError for any bytes", () => {
    fc.assert(
      fc.property(fc.oneof(binary(300), hostileInput(NGINX, NGINX_TOKENS, 300)), (text) => {
        try {
          const statements = parseNginx(text, "m.conf");
          for (const s of statements) assert.ok(typeof s.name === "string" && s.name.length > 0 || s.name === "");
        } catch (e) {
          assert.ok(e instanceof ConfigError, String(e));
          assert.equal(e.code, "syntax");
        }
      }),
      runs(2000),
    );
  });
});
