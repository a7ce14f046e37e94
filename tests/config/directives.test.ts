import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DIRECTIVES } from "../../src/config/directives.ts";
import { errorOf, load, oneServer } from "../support/config.ts";

/** [directive line inside a server, expected server setting value] */
type Good = [string, string, unknown];
/** [directive line inside a server, expected full error message] */
type Bad = [string, string];

const at = " in /cfg/m.conf:1";

const good: Good[] = [
  ["server_name", "server_name Mail.Example.COM;", "Mail.Example.COM"],
  ["timeout", 'timeout "1m 30s";', 90000],
  ["max_errors", "max_errors 3;", 3],
  ["resolver", "resolver 127.0.0.1 [::1]:5353 valid=30s ipv6=off;", {
    addresses: ["127.0.0.1", "[::1]:5353"],
    valid: 30,
    ipv4: true,
    ipv6: false,
  }],
  ["resolver_timeout", "resolver_timeout 5s;", 5000],
  ["error_log", "error_log /var/log/m.log warn json;", [{ path: "/var/log/m.log", level: "warn", json: true }]],
  ["auth_http", "auth_http unix:/run/auth.sock:/check;", { kind: "unix", url: "unix:/run/auth.sock:/check", path: "/run/auth.sock", uri: "/check" }],
  ["auth_http_header", 'auth_http_header X-Key "s e c";', [["X-Key", "s e c"]]],
  ["auth_http_pass_client_cert", "auth_http_pass_client_cert ON;", true],
  ["auth_http_timeout", "auth_http_timeout 250ms;", 250],
  ["auth_http_keepalive", "auth_http_keepalive 0;", 0],
  ["auth_http_cache", "auth_http_cache max=500 valid=30s;", { valid: 30000, max: 500 }],
  ["auth_http_extra_headers", "auth_http_extra_headers on;", true],
  ["limit_login", "limit_login zone=login per_ip=10 per_user=5 window=10m;", { zone: "login", per_ip: 10, per_user: 5, window: 600000, delay: 1000 }],
  ["limit_conn", "limit_conn per_ip=20;", { per_ip: 20 }],
  ["limit_store", "limit_store redis://127.0.0.1:6380;", "redis://127.0.0.1:6380"],
  ["imap_id", "imap_id on;", true],
  ["proxy_imap_id", "proxy_imap_id on;", true],
  ["proxy_buffer", "proxy_buffer 16k;", 16384],
  ["proxy_pass_error_message", "proxy_pass_error_message on;", true],
  ["proxy_protocol", "proxy_protocol V2;", "v2"],
  ["proxy_smtp_auth", "proxy_smtp_auth on;", true],
  ["proxy_timeout", "proxy_timeout 1h;", 3600000],
  ["xclient", "xclient off;", false],
  ["proxy", "proxy on;", true],
  ["proxy_pass", "proxy_pass 127.0.0.1:1143;", "127.0.0.1:1143"],
  ["auth_file", "auth_file /dev/null;", "/dev/null"],
  ["set_real_ip_from", "set_real_ip_from 10.0.0.0/8; set_real_ip_from unix:;", ["10.0.0.0/8", "unix:"]],
  ["starttls", "starttls ONLY; ssl_certificate a.crt; ssl_certificate_key a.key;", "only"],
  ["ssl", "ssl ON; ssl_certificate a.crt; ssl_certificate_key a.key;", true],
  ["ssl_certificate", "ssl_certificate rsa.crt; ssl_certificate ec.crt;", ["/cfg/rsa.crt", "/cfg/ec.crt"]],
  ["ssl_certificate_key", "ssl_certificate_key rsa.key; ssl_certificate_key ec.key;", ["/cfg/rsa.key", "/cfg/ec.key"]],
  ["ssl_password_file", "ssl_password_file /etc/pw;", "/etc/pw"],
  ["ssl_certificate_compression", "ssl_certificate_compression on;", true],
  ["ssl_ciphers", "ssl_ciphers HIGH:!aNULL;", "HIGH:!aNULL"],
  ["ssl_prefer_server_ciphers", "ssl_prefer_server_ciphers on;", true],
  ["ssl_protocols", "ssl_protocols tlsv1.3 TLSv1.2;", ["TLSv1.3", "TLSv1.2"]],
  ["ssl_dhparam", "ssl_dhparam dh.pem;", "/cfg/dh.pem"],
  ["ssl_ecdh_curve", "ssl_ecdh_curve X25519:prime256v1;", "X25519:prime256v1"],
  ["ssl_session_cache", "ssl_session_cache builtin:1000 shared:SSL:10m;", {
    mode: "cache",
    builtin: 1000,
    shared: { name: "SSL", size: 10485760 },
  }],
  ["ssl_session_timeout", "ssl_session_timeout 1M;", 30 * 86400 * 1000],
  ["ssl_session_tickets", "ssl_session_tickets off;", false],
  ["ssl_session_ticket_key", "ssl_session_ticket_key a.key;", ["/cfg/a.key"]],
  ["ssl_verify_client", "ssl_verify_client optional_no_ca;", "optional_no_ca"],
  ["ssl_verify_depth", "ssl_verify_depth 2;", 2],
  ["ssl_client_certificate", "ssl_client_certificate ca.pem;", "/cfg/ca.pem"],
  ["ssl_trusted_certificate", "ssl_trusted_certificate ca.pem;", "/cfg/ca.pem"],
  ["ssl_crl", "ssl_crl crl.pem;", "/cfg/crl.pem"],
  ["ssl_conf_command", "ssl_conf_command Options PrioritizeChaCha;", [["Options", "PrioritizeChaCha"]]],
  ["proxy_ssl", "proxy_ssl on;", true],
  ["proxy_starttls", "proxy_starttls ON;", true],
  ["proxy_ssl_verify", "proxy_ssl_verify on;", true],
  ["proxy_ssl_trusted_certificate", "proxy_ssl_trusted_certificate /etc/ssl/backend-ca.pem;", "/etc/ssl/backend-ca.pem"],
  ["proxy_ssl_name", "proxy_ssl_name imap.internal;", "imap.internal"],
  ["proxy_ssl_server_name", "proxy_ssl_server_name on;", true],
  ["proxy_ssl_certificate", "proxy_ssl_certificate proxy.crt;", "/cfg/proxy.crt"],
  ["proxy_ssl_certificate_key", "proxy_ssl_certificate_key proxy.key;", "/cfg/proxy.key"],
  ["proxy_ssl_protocols", "proxy_ssl_protocols tlsv1.3;", ["TLSv1.3"]],
  ["proxy_ssl_ciphers", "proxy_ssl_ciphers ECDHE:!aNULL;", "ECDHE:!aNULL"],
  ["imap_auth", "imap_auth PLAIN cram-md5 External;", ["plain", "cram-md5", "external"]],
  ["imap_capabilities", 'imap_capabilities IMAP4rev1 "ID"; imap_capabilities IDLE;', ["IMAP4rev1", "ID", "IDLE"]],
  ["imap_client_buffer", "imap_client_buffer 8k;", 8192],
  ["pop3_auth", "pop3_auth apop; pop3_auth cram-md5;", ["apop", "cram-md5"]],
  ["pop3_capabilities", 'pop3_capabilities TOP "EXPIRE 0";', ["TOP", "EXPIRE 0"]],
  ["smtp_auth", "smtp_auth none login;", ["none", "login"]],
  ["smtp_capabilities", 'smtp_capabilities "SIZE 10485760" 8BITMIME;', ["SIZE 10485760", "8BITMIME"]],
  ["smtp_client_buffer", "smtp_client_buffer 1m;", 1048576],
  ["smtp_greeting_delay", "smtp_greeting_delay 1s;", 1000],
  ["sieve_auth", "sieve_auth PLAIN xoauth2 External;", ["plain", "xoauth2", "external"]],
  ["sieve_capabilities", 'sieve_capabilities fileinto "vacation"; sieve_capabilities "comparator-i;ascii-numeric";', ["fileinto", "vacation", "comparator-i;ascii-numeric"]],
  ["sieve_client_buffer", "sieve_client_buffer 16k;", 16384],
];

const bad: Bad[] = [
  ["server_name a b;", `invalid number of arguments in "server_name" directive${at}`],
  ["timeout 1y;", `"timeout" directive invalid value${at}`],
  ["max_errors -1;", `"max_errors" directive invalid number${at}`],
  ["resolver valid=30s;", `no name servers defined${at}`],
  ["resolver_timeout 1M;", `"resolver_timeout" directive invalid value${at}`],
  ["error_log stderr loud;", `invalid log level "loud"${at}`],
  ["auth_http http://127.0.0.1:0/;", `invalid port in auth_http "127.0.0.1:0/"${at}`],
  ["auth_http_header X-Key;", `invalid number of arguments in "auth_http_header" directive${at}`],
  // What the auth request could not carry is refused at its line, not at every login.
  ['auth_http_header "X Key" v;', `invalid header name "X Key"${at}`],
  ['auth_http_header X-Key "a\\nb";', `invalid header value for "X-Key": control character${at}`],
  ["auth_http_pass_client_cert yes;", `invalid value "yes" in "auth_http_pass_client_cert" directive, it must be "on" or "off"${at}`],
  ["auth_http_timeout 1y;", `"auth_http_timeout" directive invalid value${at}`],
  ["auth_http_keepalive many;", `"auth_http_keepalive" directive invalid number${at}`],
  ["auth_http_cache max=5;", `invalid or missing "valid=" value${at}`],
  ["auth_http_extra_headers yes;", `invalid value "yes" in "auth_http_extra_headers" directive, it must be "on" or "off"${at}`],
  ["limit_login zone=login window=1m;", `"limit_login" directive needs per_ip=N or per_user=N${at}`],
  ["limit_conn 10;", `invalid parameter "10" in "limit_conn" directive${at}`],
  ["limit_store 127.0.0.1:6379;", `expected redis://host[:port] in limit_store "127.0.0.1:6379"${at}`],
  ["imap_id 1;", `invalid value "1" in "imap_id" directive, it must be "on" or "off"${at}`],
  ["proxy_imap_id 1;", `invalid value "1" in "proxy_imap_id" directive, it must be "on" or "off"${at}`],
  ["proxy_buffer 1g;", `"proxy_buffer" directive invalid value${at}`],
  ["proxy_pass_error_message 1;", `invalid value "1" in "proxy_pass_error_message" directive, it must be "on" or "off"${at}`],
  ["proxy_protocol v3;", `invalid value "v3"${at}`],
  ["proxy_smtp_auth maybe;", `invalid value "maybe" in "proxy_smtp_auth" directive, it must be "on" or "off"${at}`],
  ["proxy_timeout 10x;", `"proxy_timeout" directive invalid value${at}`],
  ["xclient no;", `invalid value "no" in "xclient" directive, it must be "on" or "off"${at}`],
  ["proxy of;", `invalid value "of" in "proxy" directive, it must be "on" or "off"${at}`],
  ["proxy_pass 127.0.0.1;", `no port in proxy_pass "127.0.0.1"${at}`],
  ["auth_file a b;", `invalid number of arguments in "auth_file" directive${at}`],
  ["set_real_ip_from;", `invalid number of arguments in "set_real_ip_from" directive${at}`],
  ["starttls maybe;", `invalid value "maybe"${at}`],
  ["ssl yes;", `invalid value "yes" in "ssl" directive, it must be "on" or "off"${at}`],
  ["ssl_certificate a b;", `invalid number of arguments in "ssl_certificate" directive${at}`],
  ["ssl_certificate_key;", `invalid number of arguments in "ssl_certificate_key" directive${at}`],
  ["ssl_password_file a; ssl_password_file b;", `"ssl_password_file" directive is duplicate${at}`],
  ["ssl_certificate_compression yes;", `invalid value "yes" in "ssl_certificate_compression" directive, it must be "on" or "off"${at}`],
  ["ssl_ciphers a b;", `invalid number of arguments in "ssl_ciphers" directive${at}`],
  ["ssl_prefer_server_ciphers 0;", `invalid value "0" in "ssl_prefer_server_ciphers" directive, it must be "on" or "off"${at}`],
  ["ssl_protocols TLSv1.4;", `invalid value "TLSv1.4"${at}`],
  ["ssl_dhparam;", `invalid number of arguments in "ssl_dhparam" directive${at}`],
  ["ssl_ecdh_curve a b;", `invalid number of arguments in "ssl_ecdh_curve" directive${at}`],
  ["ssl_session_cache shared:SSL;", `invalid session cache "shared:SSL"${at}`],
  ["ssl_session_timeout 500ms;", `"ssl_session_timeout" directive invalid value${at}`],
  ["ssl_session_tickets 2;", `invalid value "2" in "ssl_session_tickets" directive, it must be "on" or "off"${at}`],
  ["ssl_session_ticket_key a b;", `invalid number of arguments in "ssl_session_ticket_key" directive${at}`],
  ["ssl_verify_client always;", `invalid value "always"${at}`],
  ["ssl_verify_depth one;", `"ssl_verify_depth" directive invalid number${at}`],
  ["ssl_client_certificate a b;", `invalid number of arguments in "ssl_client_certificate" directive${at}`],
  ["ssl_trusted_certificate;", `invalid number of arguments in "ssl_trusted_certificate" directive${at}`],
  ["ssl_crl a b;", `invalid number of arguments in "ssl_crl" directive${at}`],
  ["ssl_conf_command Options;", `invalid number of arguments in "ssl_conf_command" directive${at}`],
  ["proxy_ssl yes;", `invalid value "yes" in "proxy_ssl" directive, it must be "on" or "off"${at}`],
  ["proxy_starttls only;", `invalid value "only" in "proxy_starttls" directive, it must be "on" or "off"${at}`],
  ["proxy_ssl_verify 1;", `invalid value "1" in "proxy_ssl_verify" directive, it must be "on" or "off"${at}`],
  ["proxy_ssl_trusted_certificate a b;", `invalid number of arguments in "proxy_ssl_trusted_certificate" directive${at}`],
  ["proxy_ssl_name;", `invalid number of arguments in "proxy_ssl_name" directive${at}`],
  ["proxy_ssl_server_name maybe;", `invalid value "maybe" in "proxy_ssl_server_name" directive, it must be "on" or "off"${at}`],
  ["proxy_ssl_certificate a b;", `invalid number of arguments in "proxy_ssl_certificate" directive${at}`],
  ["proxy_ssl_certificate_key a; proxy_ssl_certificate_key b;", `"proxy_ssl_certificate_key" directive is duplicate${at}`],
  ["proxy_ssl_protocols TLSv2;", `invalid value "TLSv2"${at}`],
  ["proxy_ssl_ciphers a b;", `invalid number of arguments in "proxy_ssl_ciphers" directive${at}`],
  ["imap_auth apop;", `invalid value "apop"${at}`],
  ["imap_capabilities;", `invalid number of arguments in "imap_capabilities" directive${at}`],
  ["imap_client_buffer 4kb;", `"imap_client_buffer" directive invalid value${at}`],
  ["pop3_auth login;", `invalid value "login"${at}`],
  ["pop3_capabilities;", `invalid number of arguments in "pop3_capabilities" directive${at}`],
  ["smtp_auth apop;", `invalid value "apop"${at}`],
  ["smtp_capabilities;", `invalid number of arguments in "smtp_capabilities" directive${at}`],
  ["smtp_client_buffer -1;", `"smtp_client_buffer" directive invalid value${at}`],
  ["smtp_greeting_delay 1y;", `"smtp_greeting_delay" directive invalid value${at}`],
  ["sieve_auth cram-md5;", `invalid value "cram-md5"${at}`],
  ["sieve_capabilities;", `invalid number of arguments in "sieve_capabilities" directive${at}`],
  ["sieve_client_buffer 4kb;", `"sieve_client_buffer" directive invalid value${at}`],
];

describe("every mail directive accepts a good value", () => {
  for (const [name, line, expected] of good) {
    test(`${line} sets ${name}`, () => {
      const { config } = load(oneServer(line));
      assert.deepEqual((config.mail!.servers[0]!.settings as Record<string, unknown>)[name], expected);
    });
  }
});

describe("every mail directive refuses a bad value", () => {
  for (const [line, message] of bad) {
    test(`${line} → ${message}`, () => assert.equal(errorOf(oneServer(line)), message));
  }
});

test("the good and bad lists cover every mail and server directive of the table", () => {
  const covered = new Set(good.map(([name]) => name));
  const missing = DIRECTIVES.filter((d) =>
    (d.contexts.includes("mail") || d.contexts.includes("server")) && d.kind !== "block" && !d.onBlock &&
    !covered.has(d.name)
  ).map((d) => d.name);
  assert.deepEqual(missing, []);
  const badNames = new Set(bad.map(([line]) => line.split(/[ ;]/)[0]));
  assert.deepEqual([...covered].filter((n) => !badNames.has(n)), []);
});

describe("top-level and events directives", () => {
  test("main-context directives fill the top of the model", () => {
    const { config } = load(
      "worker_processes 4; error_log stderr info; error_log /var/log/m.log; pid /run/m.pid; daemon on;" +
        " user mail mail; worker_rlimit_nofile 65536; worker_shutdown_timeout 10s; events { worker_connections 2048; }",
    );
    assert.equal(config.worker_processes, 4);
    assert.deepEqual(config.error_log, [
      { path: "stderr", level: "info", json: false },
      { path: "/var/log/m.log", level: "error", json: false },
    ]);
    assert.equal(config.pid, "/run/m.pid");
    assert.equal(config.daemon, true);
    assert.deepEqual(config.user, { user: "mail", group: "mail" });
    assert.equal(config.worker_rlimit_nofile, 65536);
    assert.equal(config.worker_shutdown_timeout, 10000);
    assert.equal(config.worker_connections, 2048);
    assert.equal(config.mail, undefined);
  });

  test("defaults of the top level", () => {
    const { config } = load("");
    assert.equal(config.worker_processes, 1);
    assert.equal(config.daemon, false, "mailproxy runs in the foreground unless daemon on");
    assert.equal(config.worker_connections, 512);
    assert.deepEqual(config.error_log, []);
    assert.equal(config.prefix, "/cfg");
    assert.equal(config.file, "/cfg/m.conf");
  });

  test("worker_processes auto", () => assert.equal(load("worker_processes auto;").config.worker_processes, "auto"));

  const badTop: Array<[string, string]> = [
    ["worker_processes many;", `"worker_processes" directive invalid value in /cfg/m.conf:1`],
    ["pid a b;", `invalid number of arguments in "pid" directive in /cfg/m.conf:1`],
    ["daemon yes;", `invalid value "yes" in "daemon" directive, it must be "on" or "off" in /cfg/m.conf:1`],
    ["user a b c;", `invalid number of arguments in "user" directive in /cfg/m.conf:1`],
    ["worker_rlimit_nofile lots;", `"worker_rlimit_nofile" directive invalid number in /cfg/m.conf:1`],
    ["worker_shutdown_timeout 1y;", `"worker_shutdown_timeout" directive invalid value in /cfg/m.conf:1`],
    ["events { worker_connections x; }", `"worker_connections" directive invalid number in /cfg/m.conf:1`],
    ["daemon off; daemon on;", `"daemon" directive is duplicate in /cfg/m.conf:1`],
    ["events { } events { }", `"events" directive is duplicate in /cfg/m.conf:1`],
    ["error_log;", `invalid number of arguments in "error_log" directive in /cfg/m.conf:1`],
  ];
  for (const [text, message] of badTop) {
    test(`${text} → ${message}`, () => assert.equal(errorOf(text), message));
  }
});
