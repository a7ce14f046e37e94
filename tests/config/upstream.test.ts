import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadConfigText, stripSources } from "../../src/config/load.ts";
import { toNginx } from "../../src/config/write_nginx.ts";
import { toToml } from "../../src/config/write_toml.ts";
import { errorOf, load } from "../support/config.ts";

const POOL = `mail {
  upstream imap_pool {
    hash $login consistent;
    server 10.0.0.11:143 weight=2 max_fails=3 fail_timeout=30s;
    server 10.0.0.12:143;
    server 10.0.0.13:143 backup;
    server 10.0.0.14:143 down;
    sticky_store redis://127.0.0.1:6379/0 ttl=1h;
    health_check interval=5s fails=2 passes=2 greeting;
  }
  upstream spare { least_conn; server [::1]:1143; }
  server { listen 143; protocol imap; proxy_pass imap_pool; }
}`;

const TOML = `[mail.upstream.imap_pool]
hash = "$login consistent"
server = ["10.0.0.11:143 weight=2 max_fails=3 fail_timeout=30s", "10.0.0.12:143", "10.0.0.13:143 backup", "10.0.0.14:143 down"]
sticky_store = "redis://127.0.0.1:6379/0 ttl=1h"
health_check = "interval=5s fails=2 passes=2 greeting"

[mail.upstream.spare]
least_conn = true
server = "[::1]:1143"

[[mail.server]]
listen = "143"
protocol = "imap"
proxy_pass = "imap_pool"
`;

describe("upstream blocks", () => {
  test("an upstream block loads into named pools with nginx's server defaults", () => {
    const mail = stripSources(load(POOL).config).mail!;
    const [pool, spare] = mail.upstreams!;
    assert.equal(pool!.name, "imap_pool");
    assert.deepEqual(pool!.settings.hash, { key: "$login", consistent: true });
    assert.deepEqual(pool!.settings.server!.map((s) => [s.host, s.port, s.weight, s.max_fails, s.fail_timeout, s.backup, s.down]), [
      ["10.0.0.11", 143, 2, 3, 30000, false, false],
      ["10.0.0.12", 143, 1, 1, 10000, false, false],
      ["10.0.0.13", 143, 1, 1, 10000, true, false],
      ["10.0.0.14", 143, 1, 1, 10000, false, true],
    ]);
    assert.deepEqual(pool!.settings.sticky_store, { url: "redis://127.0.0.1:6379/0", host: "127.0.0.1", port: 6379, db: 0, ttl: 3600000 });
    assert.deepEqual(pool!.settings.health_check, { interval: 5000, fails: 2, passes: 2, greeting: true, starttls: false });
    assert.equal(spare!.settings.least_conn, true);
    assert.equal(spare!.settings.server![0]!.host, "::1");
    assert.equal(mail.servers[0]!.settings.proxy_pass, "imap_pool");
  });

  test("the TOML twin loads to the same model", () => {
    const fromToml = loadConfigText(TOML, "/cfg/m.toml").config;
    assert.deepEqual(stripSources(fromToml).mail, stripSources(load(POOL).config).mail);
  });

  test("config --to writes upstreams both ways and they load back equal", () => {
    const config = load(POOL).config;
    const viaToml = loadConfigText(toToml(config), "/cfg/r.toml").config;
    assert.deepEqual(stripSources(viaToml), stripSources(config));
    const viaNginx = loadConfigText(toNginx(viaToml), "/cfg/r.conf").config;
    assert.deepEqual(stripSources(viaNginx), stripSources(config));
    assert.match(toNginx(config), /    upstream spare \{\n        server \[::1\]:1143;\n        least_conn;\n    \}/);
  });

  test("mistakes in an upstream are refused with the place", () => {
    const at = " in /cfg/m.conf:1";
    const pool = (body: string) => `mail { upstream p { ${body} } server { listen 143; proxy_pass p; } }`;
    assert.equal(errorOf(pool("")), `no servers are inside upstream "p"${at}`);
    assert.equal(errorOf(pool("server 10.0.0.1;")), `no port in upstream "10.0.0.1"${at}`);
    assert.equal(errorOf(pool("server 10.0.0.1:143 weight=0;")), `invalid parameter "weight=0" in "server" directive${at}`);
    assert.equal(errorOf(pool("server 10.0.0.1:143 slow;")), `invalid parameter "slow" in "server" directive${at}`);
    assert.equal(errorOf(pool("hash $login; least_conn; server 10.0.0.1:143;")), `load balancing method redefined${at}`);
    assert.equal(errorOf(pool("hash login; server 10.0.0.1:143;")), `invalid key "login" in "hash" directive, it must be one of $login, $remote_addr, $protocol${at}`);
    assert.equal(errorOf(pool("sticky_store http://x; server 10.0.0.1:143;")), `expected redis://host[:port][/db] in sticky_store "http://x"${at}`);
    assert.equal(errorOf(pool("health_check rise=2; server 10.0.0.1:143;")), `invalid parameter "rise=2" in "health_check" directive${at}`);
    assert.equal(errorOf(pool("server 10.0.0.1:143 { }")), `directive "server" is not terminated by ";"${at}`);
    assert.equal(
      errorOf("mail { upstream p { server 10.0.0.1:143; } upstream p { server 10.0.0.2:143; } server { listen 143; proxy_pass p; } }"),
      `duplicate upstream "p"${at}`,
    );
    assert.equal(errorOf("mail { server { listen 143; proxy_pass nopool; } }"), `no port in proxy_pass "nopool" and no upstream of that name${at}`);
    assert.equal(errorOf("mail { server { listen 143; upstream p { server 10.0.0.1:143; } } }"), `"upstream" directive is not allowed here${at}`);
    assert.equal(errorOf("mail { hash $login; }"), `"hash" directive is not allowed here${at}`);
  });
});

describe("status_allow", () => {
  test("repeats append, in nginx and TOML alike, and written back by config --to", () => {
    const config = load("status_listen 127.0.0.1:9145; status_allow 10.0.0.0/8; status_allow ::1;").config;
    assert.deepEqual(config.status_allow, ["10.0.0.0/8", "::1"]);
    const fromToml = loadConfigText('status_listen = "127.0.0.1:9145"\nstatus_allow = ["10.0.0.0/8", "::1"]\n', "/cfg/m.toml").config;
    assert.deepEqual(fromToml.status_allow, ["10.0.0.0/8", "::1"]);
    assert.deepEqual(loadConfigText(toToml(config), "/cfg/r.toml").config.status_allow, ["10.0.0.0/8", "::1"]);
    assert.deepEqual(loadConfigText(toNginx(config), "/cfg/r.conf").config.status_allow, ["10.0.0.0/8", "::1"]);
  });

  test("unset it is absent (loopback only); a name or a bad CIDR is refused; only at the top", () => {
    assert.equal(load("status_listen 127.0.0.1:9145;").config.status_allow, undefined);
    const at = " in /cfg/m.conf:1";
    assert.equal(errorOf("status_allow mgmt.example.com;"), `invalid parameter "mgmt.example.com"${at}`);
    assert.equal(errorOf("status_allow 10.0.0.0/33;"), `invalid parameter "10.0.0.0/33"${at}`);
    assert.equal(errorOf("mail { status_allow 10.0.0.1; }"), `"status_allow" directive is not allowed here${at}`);
  });
});
