import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { detectFormat, loadConfigText, stripSources } from "../../src/config/load.ts";

const T = "/cfg/m.toml";
const loadToml = (text: string) => loadConfigText(text, T);
const nginxModel = (text: string) => stripSources(loadConfigText(text, "/cfg/m.conf").config);
const tomlModel = (text: string) => stripSources(loadToml(text).config);

function tomlError(text: string): string {
  try {
    loadToml(text);
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return "no error";
}

describe("TOML mapping (spec/toml.md)", () => {
  test("the top level, [events], [mail] and [[mail.server]] map to the nginx blocks", () => {
    assert.deepEqual(
      tomlModel(`
worker_processes = 4
daemon = false
pid = "/run/m.pid"
user = "mail mail"
worker_rlimit_nofile = 1024
worker_shutdown_timeout = 30
error_log = ["stderr info", { file = "/var/log/m.log", level = "warn", json = true }]
[events]
worker_connections = 100
[mail]
auth_http = "127.0.0.1:9000"
[[mail.server]]
listen = ["143"]
[[mail.server]]
listen = ["110"]
`),
      nginxModel(`
worker_processes 4; daemon off; pid /run/m.pid; user mail mail; worker_rlimit_nofile 1024;
worker_shutdown_timeout 30s; error_log stderr info; error_log /var/log/m.log warn json;
events { worker_connections 100; }
mail { auth_http 127.0.0.1:9000; server { listen 143; } server { listen 110; } }
`),
    );
  });

  test("booleans are on/off, bare integers are seconds or bytes, strings keep nginx units", () => {
    assert.deepEqual(
      tomlModel(`[mail]
xclient = false
proxy_pass_error_message = true
timeout = 90
proxy_timeout = "1h30m"
smtp_greeting_delay = "250ms"
proxy_buffer = 16384
imap_client_buffer = "8k"
ssl_session_timeout = 600
max_errors = 3`),
      nginxModel(`mail { xclient off; proxy_pass_error_message on; timeout 90; proxy_timeout 1h30m;
        smtp_greeting_delay 250ms; proxy_buffer 16k; imap_client_buffer 8k; ssl_session_timeout 10m; max_errors 3; }`),
    );
  });

  test("lists, pairs and repeatable directives are arrays", () => {
    assert.deepEqual(
      tomlModel(`[mail]
imap_capabilities = ["IMAP4rev1", "UIDPLUS", "IDLE"]
smtp_capabilities = ["SIZE 10485760", "8BITMIME"]
smtp_auth = ["plain", "login", "cram-md5"]
auth_http_header = [["X-Auth-Key", "secret"], ["X-Other", "two words"]]
ssl_conf_command = [["Options", "PrioritizeChaCha"]]
set_real_ip_from = ["10.0.0.0/8", "unix:"]
ssl_certificate = ["rsa.crt", "ecdsa.crt"]
ssl_certificate_key = ["rsa.key", "ecdsa.key"]
ssl_session_ticket_key = ["t.key"]
ssl_protocols = ["TLSv1.3"]
ssl_session_cache = "builtin:1000 shared:SSL:10m"
resolver = { addresses = ["127.0.0.1", "[::1]:53"], valid = "30s", ipv6 = false }
`),
      nginxModel(`mail {
        imap_capabilities IMAP4rev1 UIDPLUS IDLE; smtp_capabilities "SIZE 10485760" 8BITMIME;
        smtp_auth plain login cram-md5; auth_http_header X-Auth-Key secret; auth_http_header X-Other "two words";
        ssl_conf_command Options PrioritizeChaCha; set_real_ip_from 10.0.0.0/8; set_real_ip_from unix:;
        ssl_certificate rsa.crt; ssl_certificate ecdsa.crt; ssl_certificate_key rsa.key; ssl_certificate_key ecdsa.key;
        ssl_session_ticket_key t.key; ssl_protocols TLSv1.3; ssl_session_cache builtin:1000 shared:SSL:10m;
        resolver 127.0.0.1 [::1]:53 valid=30s ipv6=off; }`),
    );
  });

  test("resolver = false is resolver off, and a string of words also works", () => {
    assert.equal(loadToml("[mail]\nresolver = false").config.mail!.settings.resolver, null);
    assert.deepEqual(loadToml('[mail]\nresolver = "127.0.0.1 valid=10s"').config.mail!.settings.resolver, {
      addresses: ["127.0.0.1"],
      valid: 10,
      ipv4: true,
      ipv6: true,
    });
  });

  test("listen is a string or a table, both meaning the same", () => {
    const fromStrings = tomlModel(`[mail]
auth_http = "a:1"
ssl_certificate = ["c"]
ssl_certificate_key = ["k"]
[[mail.server]]
listen = ["0.0.0.0:993 ssl backlog=511 so_keepalive=30m::10", "[::]:993 ssl ipv6only=off proxy_protocol bind"]`);
    const fromTables = tomlModel(`[mail]
auth_http = "a:1"
ssl_certificate = ["c"]
ssl_certificate_key = ["k"]
[[mail.server]]
listen = [
  { address = "0.0.0.0:993", ssl = true, backlog = 511, so_keepalive = "30m::10" },
  { address = "[::]:993", ssl = true, ipv6only = false, proxy_protocol = true, bind = true },
]`);
    assert.deepEqual(fromStrings, fromTables);
  });

  test("a mail-level key is the default for every server; a server key wins", () => {
    const { config } = loadToml(`[mail]
auth_http = "a:1"
timeout = "10s"
[[mail.server]]
listen = ["143"]
timeout = "5s"`);
    assert.equal(config.mail!.settings.timeout, 10000);
    assert.equal(config.mail!.servers[0]!.settings.timeout, 5000);
  });
});

describe("TOML errors name the file and the key path", () => {
  const rows: Array<[string, string, string]> = [
    ["bad listen port", '[mail]\nauth_http = "a:1"\n[[mail.server]]\nlisten = ["143"]\n[[mail.server]]\nlisten = ["110"]\n[[mail.server]]\nlisten = ["25", "99999"]', '/cfg/m.toml: mail.server[2].listen[1]: invalid port in "99999" of the "listen" directive'],
    ["unknown key", "[mail]\nfoo = 1", '/cfg/m.toml: mail.foo: unknown directive "foo"'],
    ["key in the wrong table", '[mail]\nlisten = ["143"]', '/cfg/m.toml: mail.listen: "listen" directive is not allowed here'],
    ["wrong type for a flag", '[mail]\nxclient = "yes"', '/cfg/m.toml: mail.xclient: invalid value "yes" in "xclient" directive, it must be "on" or "off"'],
    ["wrong type for a time", "[mail]\ntimeout = true", '/cfg/m.toml: mail.timeout: expected a time such as "30s" or an integer of seconds, got a boolean true'],
    ["float time", "[mail]\ntimeout = 1.5", '/cfg/m.toml: mail.timeout: expected a time such as "30s" or an integer of seconds, got a float 1.5'],
    ["bad time string", '[mail]\ntimeout = "1y"', '/cfg/m.toml: mail.timeout: "timeout" directive invalid value'],
    ["server not an array", '[mail.server]\nlisten = ["143"]', "/cfg/m.toml: mail.server: expected an array of tables ([[mail.server]]), got a table"],
    ["server without listen", '[mail]\nauth_http = "a:1"\n[[mail.server]]\nprotocol = "imap"', '/cfg/m.toml: mail.server[0]: no "listen" is defined for server'],
    ["server without auth", '[[mail.server]]\nlisten = ["143"]', '/cfg/m.toml: mail.server[0]: no "auth_http" is defined for server'],
    ["bad pair", '[mail]\nauth_http_header = [["X-A"]]', '/cfg/m.toml: mail.auth_http_header[0]: expected a [name, value] pair of strings, got an array'],
    ["unknown listen key", '[[mail.server]]\nlisten = [{ address = "143", fast = true }]', '/cfg/m.toml: mail.server[0].listen[0].fast: unknown listen key "fast"'],
    ["listen table without address", '[[mail.server]]\nlisten = [{ ssl = true }]', '/cfg/m.toml: mail.server[0].listen[0]: listen table needs an "address"'],
    ["duplicate value warning does not fail", '[mail]\nauth_http = "a:1"\nimap_auth = ["plain", "plain"]\n[[mail.server]]\nlisten = ["143"]', "no error"],
  ];
  for (const [what, text, message] of rows) {
    test(`${what}: ${message}`, () => assert.equal(tomlError(text), message));
  }

  test("warnings carry the key path", () => {
    assert.deepEqual(loadToml('[mail]\nimap_auth = ["plain", "plain"]').warnings, [
      { message: 'duplicate value "plain"', file: T, line: 0, path: "mail.imap_auth" },
    ]);
  });

  test("TOML syntax errors carry the parser's line and column", () => {
    const message = tomlError("[mail]\ntimeout = \n");
    assert.match(message, /^Invalid TOML document: .* \(column \d+\) in \/cfg\/m\.toml:2$/);
  });
});

describe("format detection", () => {
  test("a .toml name is TOML; otherwise the first significant line decides", () => {
    assert.equal(detectFormat("/x/m.toml", "mail {}"), "toml");
    assert.equal(detectFormat("/x/m.conf", "# c\n\n[mail]\n"), "toml");
    assert.equal(detectFormat("/x/m.conf", "worker_processes = 2\n"), "toml");
    assert.equal(detectFormat("/x/m.conf", "# c\nworker_processes 2;\n"), "nginx");
    assert.equal(detectFormat("/x/m", "mail {\n}\n"), "nginx");
  });
  test("a TOML file with another extension loads as TOML", () => {
    assert.equal(loadConfigText("worker_processes = 3\n", "/cfg/mailproxy.cfg").config.worker_processes, 3);
  });
});
