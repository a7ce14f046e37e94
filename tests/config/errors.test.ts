import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfigText } from "../../src/config/load.ts";
import { errorOf, load, warningsOf } from "../support/config.ts";

const AUTH = "auth_http 127.0.0.1:9000;";

describe("configuration test errors, in nginx's words (directives.md §6)", () => {
  const rows: Array<[string, string, string]> = [
    ["unknown directive", `mail {\n  foo bar;\n}`, 'unknown directive "foo" in /cfg/m.conf:2'],
    ["names are case-sensitive", `mail {\n  Timeout 1s;\n}`, 'unknown directive "Timeout" in /cfg/m.conf:2'],
    ["unknown at top level", `foo;`, 'unknown directive "foo" in /cfg/m.conf:1'],
    ["listen in mail", `mail {\n listen 143;\n}`, '"listen" directive is not allowed here in /cfg/m.conf:2'],
    ["proxy_pass in mail", `mail { proxy_pass 127.0.0.1:143; }`, '"proxy_pass" directive is not allowed here in /cfg/m.conf:1'],
    ["ssl_stapling in mail", `mail { ssl_stapling on; }`, '"ssl_stapling" directive is not allowed here in /cfg/m.conf:1'],
    ["access_log in a server", `mail { server { access_log off; } }`, '"access_log" directive is not allowed here in /cfg/m.conf:1'],
    ["server at top level", `server { }`, '"server" directive is not allowed here in /cfg/m.conf:1'],
    ["timeout at top level", `timeout 1s;`, '"timeout" directive is not allowed here in /cfg/m.conf:1'],
    ["worker_processes in mail", `mail { worker_processes 1; }`, '"worker_processes" directive is not allowed here in /cfg/m.conf:1'],
    ["mail inside mail", `mail { mail { } }`, '"mail" directive is not allowed here in /cfg/m.conf:1'],
    ["wrong argument count", `mail { timeout; }`, 'invalid number of arguments in "timeout" directive in /cfg/m.conf:1'],
    ["server with arguments", `mail { server x { } }`, 'invalid number of arguments in "server" directive in /cfg/m.conf:1'],
    ["include with two files", `include a b;`, 'invalid number of arguments in "include" directive in /cfg/m.conf:1'],
    ["scalar repeated", `mail {\n timeout 1s;\n timeout 2s;\n}`, '"timeout" directive is duplicate in /cfg/m.conf:3'],
    ["starttls repeated", `mail { starttls on; starttls off; }`, '"starttls" directive is duplicate in /cfg/m.conf:1'],
    ["resolver repeated", `mail { resolver 1.1.1.1; resolver 8.8.8.8; }`, '"resolver" directive is duplicate in /cfg/m.conf:1'],
    ["auth_http repeated", `mail { ${AUTH} ${AUTH} }`, '"auth_http" directive is duplicate in /cfg/m.conf:1'],
    ["second mail block", `mail { }\nmail { }`, '"mail" directive is duplicate in /cfg/m.conf:2'],
    ["bad time", `mail { timeout 5x; }`, '"timeout" directive invalid value in /cfg/m.conf:1'],
    ["bad size", `mail { proxy_buffer 4g; }`, '"proxy_buffer" directive invalid value in /cfg/m.conf:1'],
    ["bad number", `mail { max_errors five; }`, '"max_errors" directive invalid number in /cfg/m.conf:1'],
    ["bad flag", `mail { xclient yes; }`, 'invalid value "yes" in "xclient" directive, it must be "on" or "off" in /cfg/m.conf:1'],
    ["bad enum", `mail { starttls sometimes; }`, 'invalid value "sometimes" in /cfg/m.conf:1'],
    ["bad auth method", `mail { smtp_auth plain digest-md5; }`, 'invalid value "digest-md5" in /cfg/m.conf:1'],
    ["bad ssl protocol", `mail { ssl_protocols TLSv1.2 TLSv9; }`, 'invalid value "TLSv9" in /cfg/m.conf:1'],
    ["server without listen", `mail {\n ${AUTH}\n server {\n protocol imap;\n }\n}`, 'no "listen" is defined for server in /cfg/m.conf:3'],
    ["unknown protocol", `mail { server { listen 1143; protocol nntp; } }`, 'unknown protocol "nntp" in /cfg/m.conf:1'],
    ["undetectable protocol", `mail {\n ${AUTH}\n server {\n listen 1143;\n }\n}`, "unknown mail protocol for server in /cfg/m.conf:3"],
    ["unix socket without protocol", `mail { ${AUTH} server { listen unix:/run/m.sock; } }`, "unknown mail protocol for server in /cfg/m.conf:1"],
    ["no auth_http", `mail {\n server {\n listen 143;\n }\n}`, 'no "auth_http" is defined for server in /cfg/m.conf:2'],
    ["auth_http bad port", `mail { auth_http http://auth:99999/x; }`, 'invalid port in auth_http "auth:99999/x" in /cfg/m.conf:1'],
    ["auth_http without host", `mail { auth_http http://:80/; }`, 'no host in auth_http ":80/" in /cfg/m.conf:1'],
    ["auth_http unix without path", `mail { auth_http unix:; }`, 'no path in the unix domain socket in auth_http "unix:" in /cfg/m.conf:1'],
    [
      "auth_http over https",
      `mail { auth_http https://auth.example/; }`,
      'https is not supported in auth_http "https://auth.example/", the auth service must be reached over http:// or unix: in /cfg/m.conf:1',
    ],
    [
      "duplicate listen across servers",
      `mail {\n ${AUTH}\n server { listen 143; }\n server { listen *:143; }\n}`,
      'duplicate "0.0.0.0:143" address and port pair in /cfg/m.conf:4',
    ],
    [
      "duplicate listen inside a port range",
      `mail { ${AUTH} server { listen 127.0.0.1:1000-1010; protocol imap; } server { listen 127.0.0.1:1005; protocol imap; } }`,
      'duplicate "127.0.0.1:1005" address and port pair in /cfg/m.conf:1',
    ],
    [
      "duplicate IPv6 listen spelled differently",
      `mail { ${AUTH} server { listen [::0]:143; listen [::]:143; } }`,
      'duplicate "[::]:143" address and port pair in /cfg/m.conf:1',
    ],
    ["bad listen parameter", `mail { server { listen 143 fast; } }`, 'invalid parameter "fast" in /cfg/m.conf:1'],
    ["bad backlog", `mail { server { listen 143 backlog=0; } }`, 'invalid backlog "backlog=0" in /cfg/m.conf:1'],
    ["bad rcvbuf", `mail { server { listen 143 rcvbuf=1g; } }`, 'invalid rcvbuf "rcvbuf=1g" in /cfg/m.conf:1'],
    ["bad sndbuf", `mail { server { listen 143 sndbuf=x; } }`, 'invalid sndbuf "sndbuf=x" in /cfg/m.conf:1'],
    ["bad ipv6only", `mail { server { listen [::]:143 ipv6only=yes; } }`, 'invalid ipv6only flags "yes" in /cfg/m.conf:1'],
    ["bad so_keepalive", `mail { server { listen 143 so_keepalive=0:0:0; } }`, 'invalid so_keepalive value: "0:0:0" in /cfg/m.conf:1'],
    ["so_keepalive with ms", `mail { server { listen 143 so_keepalive=500ms::; } }`, 'invalid so_keepalive value: "500ms::" in /cfg/m.conf:1'],
    ["listen bad port", `mail { server { listen 99999; } }`, 'invalid port in "99999" of the "listen" directive in /cfg/m.conf:1'],
    ["listen bad range", `mail { server { listen 2000-1000; } }`, 'invalid port range in "2000-1000" of the "listen" directive in /cfg/m.conf:1'],
    ["listen without port", `mail { server { listen 127.0.0.1; } }`, 'no port in "127.0.0.1" of the "listen" directive in /cfg/m.conf:1'],
    ["listen without host", `mail { server { listen :143; } }`, 'no host in ":143" of the "listen" directive in /cfg/m.conf:1'],
    ["listen bad IPv4", `mail { server { listen 300.1.1.1:143; } }`, 'invalid host in "300.1.1.1:143" of the "listen" directive in /cfg/m.conf:1'],
    ["listen bad IPv6", `mail { server { listen [::1:143; } }`, 'invalid host in "[::1:143" of the "listen" directive in /cfg/m.conf:1'],
    ["listen unix without path", `mail { server { listen unix:; } }`, 'no path in the unix domain socket in "unix:" of the "listen" directive in /cfg/m.conf:1'],
    [
      "ssl listen without certificate",
      `mail {\n ${AUTH}\n server {\n  listen 993 ssl;\n }\n}`,
      'no "ssl_certificate" is defined for the "listen ... ssl" directive in /cfg/m.conf:4',
    ],
    [
      "starttls without certificate",
      `mail {\n ${AUTH}\n starttls on;\n server { listen 143; }\n}`,
      'no "ssl_certificate" is defined for the "starttls" directive in /cfg/m.conf:3',
    ],
    [
      "ssl listen without key",
      `mail { ${AUTH} ssl_certificate a.crt; server { listen 993 ssl; } }`,
      'no "ssl_certificate_key" is defined for the "listen ... ssl" directive in /cfg/m.conf:1',
    ],
    [
      "starttls with fewer keys than certificates",
      `mail { ${AUTH} server { listen 143; starttls only; ssl_certificate rsa.crt; ssl_certificate ec.crt; ssl_certificate_key rsa.key; } }`,
      'no "ssl_certificate_key" is defined for certificate "/cfg/ec.crt" and the "starttls" directive in /cfg/m.conf:1',
    ],
    ["resolver without servers", `mail { resolver valid=10s; }`, "no name servers defined in /cfg/m.conf:1"],
    ["resolver bad valid", `mail { resolver 127.0.0.1 valid=10ms; }`, "invalid parameter: valid=10ms in /cfg/m.conf:1"],
    ["resolver bad ipv4", `mail { resolver 127.0.0.1 ipv4=no; }`, "invalid parameter: ipv4=no in /cfg/m.conf:1"],
    ["resolver ipv4 and ipv6 off", `mail { resolver 127.0.0.1 ipv4=off ipv6=off; }`, '"ipv4" and "ipv6" cannot both be "off" in /cfg/m.conf:1'],
    ["resolver bad port", `mail { resolver 127.0.0.1:0; }`, 'invalid port in resolver "127.0.0.1:0" in /cfg/m.conf:1'],
    ["session cache malformed", `mail { ssl_session_cache shared:x:y; }`, 'invalid session cache "shared:x:y" in /cfg/m.conf:1'],
    ["session cache too small", `mail { ssl_session_cache shared:SSL:16k; }`, 'session cache "shared:SSL:16k" is too small in /cfg/m.conf:1'],
    ["session cache unknown word", `mail { ssl_session_cache always; }`, 'invalid session cache "always" in /cfg/m.conf:1'],
  ];
  for (const [what, text, message] of rows) {
    test(`${what}: ${message}`, () => assert.equal(errorOf(text), message));
  }

  test("errors carry a stable code, the file and the line", () => {
    try {
      loadConfigText("mail {\n\n  foo;\n}", "/cfg/m.conf");
      assert.fail("expected an error");
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.code, "unknown_directive");
      assert.equal(e.file, "/cfg/m.conf");
      assert.equal(e.line, 3);
      assert.equal(e.reason, 'unknown directive "foo"');
    }
  });

  test("a per-server check runs for every server before the next kind of check", () => {
    const text = `mail {\n server { listen 993 ssl; }\n server { listen 1143; }\n}`;
    assert.equal(errorOf(text), "unknown mail protocol for server in /cfg/m.conf:3");
  });

  test("a server with proxy_pass needs no auth_http", () => {
    const { config } = load("mail { server { listen 143; proxy_pass 127.0.0.1:1143; } }");
    assert.equal(config.mail!.servers[0]!.settings.proxy_pass, "127.0.0.1:1143");
  });

  test("-g directives are checked too and blamed on the command line", () => {
    assert.equal(
      (() => {
        try {
          loadConfigText("daemon on;", "/cfg/m.conf", { globalDirectives: "daemon off;" });
        } catch (e) {
          return (e as Error).message;
        }
        return "";
      })(),
      '"daemon" directive is duplicate in /cfg/m.conf:1',
    );
    try {
      loadConfigText("", "/cfg/m.conf", { globalDirectives: "daemon maybe;" });
      assert.fail("expected an error");
    } catch (e) {
      assert.equal((e as Error).message, 'invalid value "maybe" in "daemon" directive, it must be "on" or "off" in command line');
    }
    assert.equal(loadConfigText("", "/cfg/m.conf", { globalDirectives: "daemon on; pid /tmp/x.pid;" }).config.daemon, true);
  });
});

describe("warnings are returned as data", () => {
  test("a method named twice is a warning, not an error", () => {
    assert.deepEqual(warningsOf(`mail {\n imap_auth plain login PLAIN;\n smtp_auth login;\n smtp_auth login;\n}`), [
      'duplicate value "PLAIN" in /cfg/m.conf:2',
      'duplicate value "login" in /cfg/m.conf:4',
    ]);
  });

  test("http, stream and load_module are skipped with one warning each", () => {
    const text = [
      "load_module modules/ngx_mail_module.so;",
      "http {",
      "  server { listen 80; location / { return 200; } }",
      "}",
      "stream { server { listen 12345; proxy_pass x; } }",
    ].join("\n");
    assert.deepEqual(warningsOf(text), [
      '"load_module" directive is ignored by mailproxy in /cfg/m.conf:1',
      '"http" directive is ignored by mailproxy in /cfg/m.conf:2',
      '"stream" directive is ignored by mailproxy in /cfg/m.conf:5',
    ]);
  });

  test("other top-level and events nginx directives are ignored with a warning", () => {
    assert.deepEqual(warningsOf("env TZ;\npcre_jit on;\nlock_file x;\nthread_pool p threads=4;\nevents { use epoll; multi_accept on; }"), [
      '"env" directive is ignored by mailproxy in /cfg/m.conf:1',
      '"pcre_jit" directive is ignored by mailproxy in /cfg/m.conf:2',
      '"lock_file" directive is ignored by mailproxy in /cfg/m.conf:3',
      '"thread_pool" directive is ignored by mailproxy in /cfg/m.conf:4',
      '"use" directive is ignored by mailproxy in /cfg/m.conf:5',
      '"multi_accept" directive is ignored by mailproxy in /cfg/m.conf:5',
    ]);
  });

  test("multipath is logged and ignored", () => {
    const { config, warnings } = load(`mail { ${AUTH} server {\n listen 143 multipath; } }`);
    assert.deepEqual(warnings, [{ message: "multipath is not supported on this platform, ignored", file: "/cfg/m.conf", line: 2 }]);
    assert.equal(config.mail!.servers[0]!.listen[0]!.multipath, true);
  });

  test("resolver status_zone= is accepted with a warning", () => {
    assert.deepEqual(warningsOf(`mail { resolver 127.0.0.1 status_zone=dns; }`), [
      '"status_zone=dns" of the "resolver" directive is not supported, ignored in /cfg/m.conf:1',
    ]);
  });

  test("an empty mail block is legal and has no servers", () => {
    const { config, warnings } = load("mail {}");
    assert.deepEqual(config.mail!.servers, []);
    assert.deepEqual(warnings, []);
  });
});
