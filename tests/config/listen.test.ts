import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ListenSpec } from "../../src/config/model.ts";
import { errorOf, load } from "../support/config.ts";

function listenOf(args: string): Omit<ListenSpec, "source"> {
  const { config } = load(`mail { auth_http 127.0.0.1:9000; server { listen ${args}; protocol imap; ssl_certificate c; ssl_certificate_key k; } }`);
  const { source: _source, ...spec } = config.mail!.servers[0]!.listen[0]!;
  return spec;
}

const plain = {
  ssl: false,
  proxy_protocol: false,
  bind: false,
  ipv6only: true,
  multipath: false,
  default_server: false,
};

describe("listen address forms (§5.1)", () => {
  const forms: Array<[string, Partial<ListenSpec>]> = [
    ["110", { kind: "tcp", host: "*", port: 110, portEnd: 110 }],
    ["*:110", { kind: "tcp", host: "*", port: 110, portEnd: 110 }],
    ["0.0.0.0:110", { kind: "tcp", host: "*", port: 110, portEnd: 110 }],
    ["127.0.0.1:110", { kind: "tcp", host: "127.0.0.1", port: 110, portEnd: 110 }],
    ["localhost:110", { kind: "tcp", host: "localhost", port: 110, portEnd: 110 }],
    ["[::1]:110", { kind: "tcp", host: "::1", port: 110, portEnd: 110 }],
    ["[::]:110", { kind: "tcp", host: "::", port: 110, portEnd: 110 }],
    ["127.0.0.1:10000-10010", { kind: "tcp", host: "127.0.0.1", port: 10000, portEnd: 10010 }],
    ["10000-10010", { kind: "tcp", host: "*", port: 10000, portEnd: 10010 }],
    ["unix:/run/mail.sock", { kind: "unix", host: "", port: 0, portEnd: 0, path: "/run/mail.sock" }],
  ];
  for (const [address, expected] of forms) {
    test(`"${address}" is parsed`, () => assert.deepEqual(listenOf(address), { address, ...expected, ...plain }));
  }
});

describe("listen parameters (§5.2)", () => {
  test("every parameter at once", () => {
    assert.deepEqual(
      listenOf("[::]:993 ssl proxy_protocol backlog=128 rcvbuf=64k sndbuf=1m bind ipv6only=off so_keepalive=30m::10 default_server"),
      {
        address: "[::]:993",
        kind: "tcp",
        host: "::",
        port: 993,
        portEnd: 993,
        ssl: true,
        proxy_protocol: true,
        backlog: 128,
        rcvbuf: 65536,
        sndbuf: 1048576,
        bind: true,
        ipv6only: false,
        multipath: false,
        so_keepalive: { idle: 1800, cnt: 10 },
        default_server: true,
      },
    );
  });
  test("so_keepalive on, off and partial triples", () => {
    assert.deepEqual(listenOf("143 so_keepalive=on").so_keepalive, { enabled: true });
    assert.deepEqual(listenOf("143 so_keepalive=off").so_keepalive, { enabled: false });
    assert.deepEqual(listenOf("143 so_keepalive=::5").so_keepalive, { cnt: 5 });
    assert.deepEqual(listenOf("143 so_keepalive=1h:1m").so_keepalive, { idle: 3600, intvl: 60 });
  });
  test("ipv6only=on is the default and can be said explicitly", () => {
    assert.equal(listenOf("[::]:143 ipv6only=on").ipv6only, true);
  });
  test("parameters are case-sensitive like nginx", () => {
    assert.equal(errorOf("mail { server { listen 143 SSL; } }"), 'invalid parameter "SSL" in /cfg/m.conf:1');
  });
  test("the same port on a wildcard and a specific address may coexist", () => {
    const { config } = load("mail { auth_http a:1; server { listen *:110; } server { listen 127.0.0.1:110 bind; } }");
    assert.deepEqual(config.mail!.servers.map((s) => s.listen[0]!.host), ["*", "127.0.0.1"]);
  });
  test("several listens append in order", () => {
    const { config } = load("mail { auth_http a:1; server { listen 25; listen 587; listen 465 ssl; ssl_certificate c; ssl_certificate_key k; } }");
    assert.deepEqual(config.mail!.servers[0]!.listen.map((l) => [l.address, l.ssl]), [["25", false], ["587", false], ["465", true]]);
  });
});

describe("protocol autodetection (§5.4)", () => {
  const proto = (server: string) => load(`mail { auth_http a:1; server { ${server} } }`).config.mail!.servers[0]!.protocol;
  for (const [port, protocol] of [[143, "imap"], [993, "imap"], [110, "pop3"], [995, "pop3"], [25, "smtp"], [465, "smtp"], [587, "smtp"], [4190, "sieve"]]) {
    test(`port ${port} means ${protocol}`, () => assert.equal(proto(`listen ${port};`), protocol));
  }
  test("autodetection does not imply TLS", () => {
    const { config } = load("mail { auth_http a:1; server { listen 993; } }");
    assert.equal(config.mail!.servers[0]!.listen[0]!.ssl, false);
  });
  test("the first well-known listen decides; later ones don't change it", () => {
    assert.equal(proto("listen 1234; listen 110; listen 143;"), "pop3");
  });
  test("a range is detected by its first port", () => {
    assert.equal(proto("listen 143-150;"), "imap");
    assert.equal(errorOf("mail { auth_http a:1; server { listen 140-143; } }"), "unknown mail protocol for server in /cfg/m.conf:1");
  });
  test("an explicit protocol wins, before or after the listens", () => {
    assert.equal(proto("protocol smtp; listen 143;"), "smtp");
    assert.equal(proto("listen 143; protocol smtp;"), "smtp");
  });
  test("the last protocol wins and names are case-insensitive", () => {
    assert.equal(proto("listen 143; protocol imap; protocol POP3;"), "pop3");
  });
});
