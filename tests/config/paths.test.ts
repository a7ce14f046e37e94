/**
 * File paths in directives resolve as nginx resolves them: certificates, keys, include
 * and auth_file against the main configuration file's folder (nginx's conf prefix),
 * error_log, pid and access_log against the `-p` prefix; never against the working
 * directory. A file that cannot be opened is refused at the line of the directive naming it.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { DIRECTIVES } from "../../src/config/directives.ts";
import { effectiveServers, loadConfigText } from "../../src/config/load.ts";
import { testConfig } from "../../src/cli/main.ts";
import { makeTestCertificate, type TestCertificate } from "../support/backends.ts";
import { FILE, oneServer } from "../support/config.ts";
import { tempDir } from "../support/temp_dir.ts";

/** Runs `fn` with `/` as the working directory, as a service manager starts a daemon. */
function fromRoot<T>(fn: () => T): T {
  const cwd = process.cwd();
  process.chdir("/");
  try {
    return fn();
  } finally {
    process.chdir(cwd);
  }
}

/** The same for an async `fn`, the working directory staying `/` until it settles. */
async function fromRootAsync<T>(fn: () => Promise<T>): Promise<T> {
  const cwd = process.cwd();
  process.chdir("/");
  try {
    return await fn();
  } finally {
    process.chdir(cwd);
  }
}

describe("relative paths in directives", () => {
  let cert: TestCertificate;
  before(() => {
    cert = makeTestCertificate();
  });
  after(() => cert.remove());

  test("every certificate and key directive resolves a relative file against the main file's folder", () => {
    const fileDirectives = DIRECTIVES.filter((d) => d.file === "conf" && d.name !== "auth_file");
    assert.equal(fileDirectives.length, 11, fileDirectives.map((d) => d.name).join(" "));
    for (const d of fileDirectives) {
      const { config } = fromRoot(() => loadConfigText(oneServer(`${d.name} tls/x.pem;`), FILE));
      const value = effectiveServers(config)[0]![d.name as "ssl_crl"] as string | string[];
      assert.deepEqual([value].flat(), ["/cfg/tls/x.pem"], d.name);
    }
  });

  test("absolute paths, data: PEM and engine: keys stay as written", () => {
    const text = oneServer("ssl_certificate /etc/ssl/a.pem; ssl_certificate data:PEM; ssl_certificate_key engine:pkcs11:k;");
    const server = effectiveServers(loadConfigText(text, FILE).config)[0]!;
    assert.deepEqual(server.ssl_certificate, ["/etc/ssl/a.pem", "data:PEM"]);
    assert.deepEqual(server.ssl_certificate_key, ["engine:pkcs11:k"]);
  });

  test("error_log, pid and access_log resolve against the -p prefix, else the main file's folder", () => {
    const text = `error_log logs/error.log info; error_log stderr; pid run/mp.pid; access_log logs/access.log;\n${oneServer("")}`;
    const withPrefix = loadConfigText(text, FILE, { prefix: "/srv/mp" }).config;
    assert.deepEqual(withPrefix.error_log.map((t) => t.path), ["/srv/mp/logs/error.log", "stderr"]);
    assert.equal(withPrefix.pid, "/srv/mp/run/mp.pid");
    assert.equal(withPrefix.access_log?.path, "/srv/mp/logs/access.log");
    const without = loadConfigText(text, FILE).config;
    assert.equal(without.pid, "/cfg/run/mp.pid");
  });

  test("a syslog: error_log target is not taken for a file", () => {
    const { config } = loadConfigText(`error_log syslog:server=127.0.0.1 info;\n${oneServer("")}`, FILE);
    assert.equal(config.error_log[0]!.path, "syslog:server=127.0.0.1");
  });

  test("auth_file in an included file is relative to the main file's folder, not the including file's", () => {
    const dir = tempDir("mailproxy-paths-");
    fs.mkdirSync(path.join(dir, "conf.d"));
    fs.writeFileSync(path.join(dir, "users"), "alice:{plain}secret:imap=127.0.0.1:1143\n");
    fs.writeFileSync(path.join(dir, "conf.d", "imap.conf"), "server { listen 143; auth_file users; proxy_pass 127.0.0.1:143; }\n");
    const main = path.join(dir, "mailproxy.conf");
    const { config } = fromRoot(() => loadConfigText("mail { include conf.d/*.conf; }\n", main));
    assert.equal(effectiveServers(config)[0]!.auth_file, path.join(dir, "users"));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("a TLS server started from / loads ssl_certificate cert.pem from the configuration's folder", async () => {
    const file = path.join(cert.dir, "mailproxy.conf");
    fs.writeFileSync(file, oneServer("starttls on; ssl_certificate cert.pem; ssl_certificate_key key.pem;"));
    const { warnings } = await fromRootAsync(() => testConfig({ file }));
    assert.deepEqual(warnings, []);
  });

  test("a certificate that cannot be opened is refused at the line of the directive that names it", async () => {
    const file = path.join(cert.dir, "missing.conf");
    fs.writeFileSync(
      file,
      "mail {\n  auth_http 127.0.0.1:9000;\n  ssl_certificate cert.pem;\n  ssl_certificate_key nokey.pem;\n" +
        "  server {\n    listen 127.0.0.1:10993 ssl;\n    protocol imap;\n  }\n}\n",
    );
    await assert.rejects(fromRootAsync(() => testConfig({ file })), {
      message: `open() "${path.join(cert.dir, "nokey.pem")}" failed (2: No such file or directory) in ${file}:4`,
    });
  });

  test("certificates of a server without TLS are not opened, as nginx loads them only for TLS", async () => {
    const file = path.join(cert.dir, "plain.conf");
    fs.writeFileSync(file, oneServer("ssl_certificate none.pem; ssl_certificate_key none.key;"));
    assert.deepEqual((await testConfig({ file })).warnings, []);
  });
});
