/** Beyond nginx: several servers on one address, told apart by server_name (SNI). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { errorOf, load } from "../support/config.ts";

const AUTH = "auth_http 127.0.0.1:9000; ssl_certificate a.crt; ssl_certificate_key a.key;";

test("servers with different server_names may share an address and port", () => {
  const { config } = load(`mail { ${AUTH}
    server { listen 127.0.0.1:993 ssl; server_name a.example; }
    server { listen 127.0.0.1:993 ssl default_server; server_name *.example.org; }
  }`);
  assert.deepEqual(config.mail!.servers.map((s) => s.settings.server_name), ["a.example", "*.example.org"]);
  assert.equal(config.mail!.servers[1]!.listen[0]!.default_server, true);
});

test("servers sharing an address with the same server_name (or none) keep nginx's duplicate error", () => {
  assert.equal(
    errorOf(`mail { ${AUTH}\n server { listen 993 ssl; server_name A.example; }\n server { listen *:993 ssl; server_name a.example; }\n}`),
    'duplicate "0.0.0.0:993" address and port pair in /cfg/m.conf:3',
  );
  assert.equal(
    errorOf(`mail { ${AUTH} server_name mx.example;\n server { listen 993 ssl; }\n server { listen 993 ssl; }\n}`),
    'duplicate "0.0.0.0:993" address and port pair in /cfg/m.conf:3',
  );
});

test("two default_server listens on one address are refused", () => {
  assert.equal(
    errorOf(`mail { ${AUTH}\n server { listen 993 ssl default_server; server_name a.example; }\n` +
      ` server { listen 993 ssl default_server; server_name b.example; }\n}`),
    'a duplicate default server for "0.0.0.0:993" in /cfg/m.conf:3',
  );
});
