/**
 * `-t` is as strict as nginx's `-t` about this host: unknown users and groups, host names
 * that do not resolve, listen addresses that cannot be bound; each in nginx 1.22's words
 * with the directive's place. Name resolution is replaced by a table (as /etc/hosts
 * would answer) so that no test sends a DNS query; binds are real, on addresses that
 * exist (loopback) or cannot (192.0.2.1, TEST-NET-1, never configured here).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { loadConfigText } from "../../src/config/load.ts";
import { checkHost, type HostFacilities, SYSTEM } from "../../src/cli/host_check.ts";
import { freePort } from "../support/ports.ts";

const FILE = "/cfg/m.conf";

/** The system's users, groups and binds, as root, with names resolving only as /etc/hosts says. */
const HOST: HostFacilities = { ...SYSTEM, isRoot: () => true, resolves: async (name) => name === "localhost" };

async function check(text: string, host = HOST): Promise<string[]> {
  const { config, places } = loadConfigText(text, FILE);
  return await checkHost(config, places, host);
}

async function refusal(text: string, host = HOST): Promise<string> {
  try {
    await check(text, host);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("expected a refusal");
}

const server = (port: number, extra = "") => `mail {\n  auth_http 127.0.0.1:9000;\n  server {\n    listen 127.0.0.1:${port};\n    protocol imap;\n${extra}  }\n}\n`;

describe("-t checks this host as nginx does", () => {
  test("an auth_file table that cannot be read is refused at its line, as the start and a reload refuse it", async () => {
    assert.equal(
      await refusal(server(await freePort(), "    auth_file /nonexistent/users;\n")),
      '"auth_file" directive cannot read user table (ENOENT) in /nonexistent/users in /cfg/m.conf:6',
    );
  });

  test("an unknown user is getpwnam() failed at its line", async () => {
    assert.equal(await refusal(`user nosuchuser;\n${server(await freePort())}`), 'getpwnam("nosuchuser") failed in /cfg/m.conf:1');
  });

  test("an unknown group is getgrnam() failed; without a group the user's name is looked up as a group, as nginx does", async () => {
    assert.equal(await refusal(`user mail nosuchgroup;\n${server(await freePort())}`), 'getgrnam("nosuchgroup") failed in /cfg/m.conf:1');
    // Debian's nobody has the group nogroup: nginx 1.22 refuses `user nobody;` the same way.
    assert.equal(await refusal(`user nobody;\n${server(await freePort())}`), 'getgrnam("nobody") failed in /cfg/m.conf:1');
    assert.deepEqual(await check(`user nobody nogroup;\n${server(await freePort())}`), []);
  });

  test("without root, user is ignored with nginx's warning", async () => {
    const warnings = await check(`user nosuchuser;\n${server(await freePort())}`, { ...HOST, isRoot: () => false });
    assert.deepEqual(warnings, ['the "user" directive makes sense only if the master process runs with super-user privileges, ignored in /cfg/m.conf:1']);
  });

  test("an auth_http host that does not resolve is refused as nginx words it, without the http:// prefix", async () => {
    const text = server(await freePort()).replace("auth_http 127.0.0.1:9000;", "auth_http http://nonexistent.invalid:9000/auth;");
    assert.equal(await refusal(text), 'host not found in auth_http "nonexistent.invalid:9000/auth" in /cfg/m.conf:2');
    assert.deepEqual(await check(text.replace("nonexistent.invalid", "localhost")), []);
  });

  test("a resolver or set_real_ip_from host that does not resolve is refused at its line", async () => {
    const port = await freePort();
    assert.equal(await refusal(server(port, "    resolver nonexistent.invalid valid=30s;\n")), 'host not found in resolver "nonexistent.invalid" in /cfg/m.conf:6');
    assert.equal(
      await refusal(server(port, "    set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from nonexistent.invalid;\n")),
      'host not found in set_real_ip_from "nonexistent.invalid" in /cfg/m.conf:7',
    );
    assert.deepEqual(await check(server(port, "    resolver 127.0.0.1:5353 localhost;\n    set_real_ip_from localhost;\n    set_real_ip_from unix:;\n")), []);
  });

  test("a listen address not on this host is bind() failed (99) at the listen's line", async () => {
    assert.equal(
      await refusal(server(10143).replace("127.0.0.1:10143", "192.0.2.1:10143")),
      "bind() to 192.0.2.1:10143 failed (99: Cannot assign requested address) in /cfg/m.conf:4",
    );
  });

  test("a listen address already in use passes, as the running instance holds it", async () => {
    const port = await freePort();
    const busy = await new Promise<net.Server>((resolve) => {
      const s = net.createServer();
      s.listen(port, "127.0.0.1", () => resolve(s));
    });
    try {
      assert.deepEqual(await check(server(port)), []);
    } finally {
      busy.close();
    }
  });

  test("names resolve through /etc/hosts: localhost needs no DNS server", async () => {
    assert.equal(await SYSTEM.resolves("localhost"), true);
  });
});
