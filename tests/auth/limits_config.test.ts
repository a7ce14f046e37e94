/**
 * The limit_login / limit_conn / limit_store values: what is accepted, what is
 * refused and with which words, in nginx and TOML form.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { errorOf, load, oneServer } from "../support/config.ts";
import { effectiveServers, loadConfigText } from "../../src/config/load.ts";

const at = " in /cfg/m.conf:1";

describe("limit_login", () => {
  test("delay defaults to one second and may be given", () => {
    const { config } = load(oneServer("limit_login zone=a per_user=3 window=30s delay=250ms;"));
    assert.deepEqual(config.mail!.servers[0]!.settings.limit_login, { zone: "a", per_user: 3, window: 30000, delay: 250 });
  });
  const bad: Array<[string, string]> = [
    ["limit_login per_ip=3 window=1m;", `"limit_login" directive needs zone=NAME (letters, digits, "_", "-", ".")`],
    ["limit_login zone=a per_ip=3;", `"limit_login" directive needs window=TIME`],
    ["limit_login zone=a per_ip=0 window=1m;", `invalid per_ip "0" in "limit_login" directive`],
    ["limit_login zone=a per_ip=3 window=0;", `invalid window "0" in "limit_login" directive`],
    ["limit_login zone=a per_ip=3 window=soon;", `invalid window "soon" in "limit_login" directive`],
    ["limit_login zone=a per_ip=3 per_ip=4 window=1m;", `invalid parameter "per_ip=4" in "limit_login" directive`],
    ["limit_login zone=a per_host=3 window=1m;", `invalid parameter "per_host=3" in "limit_login" directive`],
    ["limit_login zone=a;", `invalid number of arguments in "limit_login" directive`],
  ];
  for (const [line, message] of bad) {
    test(`${line} → ${message}`, () => assert.equal(errorOf(oneServer(line)), message + at));
  }
});

describe("limit_conn and limit_store", () => {
  test("limit_conn per_ip=0 is refused", () => {
    assert.equal(errorOf(oneServer("limit_conn per_ip=0;")), `invalid per_ip "0" in "limit_conn" directive${at}`);
  });
  test("limit_store takes redis:// and valkey:// with an optional port", () => {
    for (const url of ["redis://localhost", "valkey://[::1]:6380", "redis://10.0.0.5:6379/"]) {
      assert.equal(load(oneServer(`limit_store ${url};`)).config.mail!.servers[0]!.settings.limit_store, url);
    }
  });
  test("limit_store refuses a bad port", () => {
    assert.equal(errorOf(oneServer("limit_store redis://127.0.0.1:99999;")), `invalid port in limit_store "redis://127.0.0.1:99999"${at}`);
  });
  test("limit_conn at the top level is not allowed there", () => {
    assert.equal(errorOf("limit_conn per_ip=3;"), `"limit_conn" directive is not allowed here${at}`);
  });
});

describe("TOML twins", () => {
  test("the limits and the ID switches load from TOML and inherit from the mail table", () => {
    const text = `
[mail]
limit_login = "zone=login per_ip=5 window=1m"
limit_store = "redis://127.0.0.1:6390"
imap_id = true
[[mail.server]]
listen = ["1143"]
protocol = "imap"
auth_http = "127.0.0.1:9000"
limit_conn = "per_ip=4"
proxy_imap_id = true
auth_http_extra_headers = true
`;
    const { config } = loadConfigText(text, "/cfg/m.toml");
    const server = effectiveServers(config)[0]!;
    assert.deepEqual(server.limit_login, { zone: "login", per_ip: 5, window: 60000, delay: 1000 });
    assert.deepEqual(server.limit_conn, { per_ip: 4 });
    assert.equal(server.limit_store, "redis://127.0.0.1:6390");
    assert.equal(server.imap_id, true);
    assert.equal(server.proxy_imap_id, true);
    assert.equal(server.auth_http_extra_headers, true);
  });
  test("the extensions are off by default", () => {
    const { config } = loadConfigText(oneServer(""), "/cfg/m.conf");
    const server = effectiveServers(config)[0]!;
    assert.equal(server.imap_id, false);
    assert.equal(server.proxy_imap_id, false);
    assert.equal(server.auth_http_extra_headers, false);
    assert.equal(server.limit_login, undefined);
    assert.equal(server.limit_conn, undefined);
  });
});
