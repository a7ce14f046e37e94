/**
 * Which socket layer a listening socket gets (src/net/choose.ts): Bun's native sockets
 * unless its servers need a feature they lack, and the environment's way to force node:.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { effectiveServers, loadConfigText } from "../../src/config/load.ts";
import { expandListen, planBindings } from "../../src/server/listeners.ts";
import { nativeLacks } from "../../src/net/choose.ts";
import { RUNTIME } from "../../src/runtime.ts";

const TLS = "ssl_certificate /etc/ssl/mail.pem; ssl_certificate_key /etc/ssl/mail.key;";

/** What native sockets lack for each listening socket of `servers` (server blocks), by bound address. */
async function lacksPerSocket(servers: string): Promise<Record<string, string | undefined>> {
  const { config } = loadConfigText(`mail { server_name mx.example.com; auth_http 127.0.0.1:9/auth; ${TLS} ${servers} }`, "/test/mail.conf");
  const entries = [];
  for (const server of effectiveServers(config)) {
    for (const listen of server.listen) entries.push(...(await expandListen(listen, server)));
  }
  const out: Record<string, string | undefined> = {};
  for (const b of planBindings(entries)) {
    out[b.key] = nativeLacks(b.entries.map((e) => ({ server: e.target, listen: e.listen, host: e.host })));
  }
  return out;
}

describe("the socket layer of a listening socket", () => {
  test("TLS servers on different addresses of one wildcard socket need no SNI: native sockets serve them", async () => {
    const lacks = await lacksPerSocket(`
      server { listen *:993 ssl; protocol imap; }
      server { listen 127.0.0.2:993 ssl; protocol imap; server_name other.example.com; }`);
    assert.deepEqual(Object.values(lacks), [undefined]);
  });

  test("two TLS servers on one address, told apart by server_name, need SNI", async () => {
    const lacks = await lacksPerSocket(`
      server { listen 127.0.0.2:993 ssl; protocol imap; }
      server { listen 127.0.0.2:993 ssl; protocol imap; server_name other.example.com; }`);
    assert.deepEqual(Object.values(lacks), ["certificate choice by server name (SNI)"]);
  });

  test("a client certificate setting of any server on the socket is found, not only the first one's", async () => {
    const lacks = await lacksPerSocket(`
      server { listen *:993 ssl; protocol imap; }
      server { listen 127.0.0.2:993 ssl; protocol imap; ssl_verify_client on; ssl_client_certificate /etc/ssl/ca.pem; }`);
    assert.deepEqual(Object.values(lacks), ["client certificate chains (ssl_verify_client)"]);
  });

  test("a listen with backlog= gets node: sockets, whose listen queue length can be set", async () => {
    const lacks = await lacksPerSocket(`
      server { listen 127.0.0.2:143 backlog=64; protocol imap; }
      server { listen 127.0.0.2:110; protocol pop3; }`);
    assert.deepEqual(Object.values(lacks), ["a listen queue length (backlog=)", undefined]);
  });
});

// Only Bun has a native layer: elsewhere the choice is node: whatever the environment says.
if (RUNTIME === "Bun") {
  describe("the socket layer by default and with MAILPROXY_SOCKETS", () => {
    const layerWith = (value: string | undefined): string => {
      const env = { ...process.env };
      delete env.MAILPROXY_SOCKETS;
      if (value !== undefined) env.MAILPROXY_SOCKETS = value;
      const choose = new URL("../../src/net/choose.ts", import.meta.url).pathname;
      const run = spawnSync(process.execPath, ["-e", `import { defaultSockets } from ${JSON.stringify(choose)}; console.log(defaultSockets().name);`], { env, encoding: "utf8" });
      return run.stdout.trim() || run.stderr;
    };

    test("Bun uses its native sockets by default", () => {
      assert.equal(layerWith(undefined), "native");
    });

    test("MAILPROXY_SOCKETS=node forces node: sockets on Bun", () => {
      assert.equal(layerWith("node"), "node");
    });
  });
}
