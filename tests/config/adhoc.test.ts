/**
 * `mailproxy serve` flags become statements: alone they make the whole configuration;
 * with `-c FILE` their server joins the file's mail block after the file's own servers
 * and inherits from it. Refusals of the flags are in the flags' terms; the file's own
 * refusals keep the file's place.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { type AdhocFlags, loadFileAndFlags } from "../../src/config/adhoc.ts";
import { effectiveServers } from "../../src/config/load.ts";
import { ConfigError } from "../../src/config/errors.ts";
import { tempDir } from "../support/temp_dir.ts";

const dir = tempDir("mailproxy-adhoc-");
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const FLAGS: AdhocFlags = { listen: ["127.0.0.1:10143"], protocol: "imap", upstream: "127.0.0.1:143" };

/** The message of the ConfigError loading throws (fails if none). */
function refusal(file: string | undefined, flags: AdhocFlags): string {
  try {
    loadFileAndFlags({ file, flags });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("expected a ConfigError");
}

describe("ad-hoc flags alone", () => {
  test("make one server in a mail block, log to stderr at info, and bound connections by the open-files limit", () => {
    const { config } = loadFileAndFlags({ flags: FLAGS, openFiles: 4096 });
    assert.deepEqual(config.error_log, [{ path: "stderr", level: "info", json: false }]);
    assert.equal(config.worker_connections, 4096);
    const [server, ...others] = effectiveServers(config);
    assert.deepEqual(others, []);
    assert.deepEqual([server!.listen.map((l) => l.address), server!.protocol, server!.proxy_pass], [["127.0.0.1:10143"], "imap", "127.0.0.1:143"]);
  });

  test("--log-level sets the level, and certificate paths are relative to the working directory", () => {
    const cert = path.relative(process.cwd(), write("cert.pem", "x"));
    const key = path.relative(process.cwd(), write("key.pem", "x"));
    const flags = { ...FLAGS, listen: ["127.0.0.1:10993 ssl"], sslCertificate: cert, sslCertificateKey: key, logLevel: "warn" };
    const { config } = loadFileAndFlags({ flags });
    assert.deepEqual(config.error_log, [{ path: "stderr", level: "warn", json: false }]);
    const [server] = effectiveServers(config);
    assert.deepEqual([server!.listen[0]!.ssl, server!.ssl_certificate, server!.ssl_certificate_key], [true, [path.join(dir, "cert.pem")], [path.join(dir, "key.pem")]]);
  });

  test("are refused in their own terms, with no place", () => {
    assert.equal(
      refusal(undefined, { listen: ["127.0.0.1:10143"], protocol: "imap" }),
      "no backend for --listen 127.0.0.1:10143: give --upstream HOST:PORT (a passthrough backend) or --auth-http URL (an auth service), or -c FILE for a configuration file",
    );
    assert.equal(refusal(undefined, { listen: ["127.0.0.1:10143"], upstream: "127.0.0.1:143" }),
      "unknown mail protocol for --listen 127.0.0.1:10143: give --protocol imap, pop3, smtp or sieve");
    assert.equal(refusal(undefined, { ...FLAGS, listen: ["127.0.0.1:10993 ssl"] }),
      "--listen 127.0.0.1:10993 ssl needs --ssl-certificate FILE and --ssl-certificate-key FILE");
    assert.equal(refusal(undefined, { ...FLAGS, listen: [] }), "no --listen address given, e.g. --listen 143");
    assert.equal(refusal(undefined, { ...FLAGS, listen: ["127.0.0.1:99999"] }), 'invalid port in "127.0.0.1:99999" of the "listen" directive');
  });
});

describe("ad-hoc flags with a file", () => {
  const FILE_TEXT = `worker_processes 2;
error_log ${path.join(dir, "error.log")} notice;
mail {
  auth_http 127.0.0.1:9000;
  server_name file.example;
  imap_capabilities IMAP4rev1 FROMFILE;
  server { listen 127.0.0.1:10144; protocol imap; }
}
`;

  test("the flags' server comes after the file's, inherits its mail-level directives, and its own flags win", () => {
    const file = write("mail.conf", FILE_TEXT);
    const flags = { listen: ["127.0.0.1:10143"], protocol: "imap", serverName: "flags.example" };
    const { config } = loadFileAndFlags({ file, flags });
    assert.equal(config.worker_processes, 2);
    assert.deepEqual(config.error_log, [{ path: path.join(dir, "error.log"), level: "notice", json: false }]);
    const servers = effectiveServers(config);
    assert.deepEqual(servers.map((s) => [s.listen[0]!.address, s.server_name]), [
      ["127.0.0.1:10144", "file.example"],
      ["127.0.0.1:10143", "flags.example"],
    ]);
    assert.ok(servers[1]!.auth_http);
    assert.deepEqual(servers[1]!.auth_http, servers[0]!.auth_http);
    assert.deepEqual(servers[1]!.imap_capabilities, ["IMAP4rev1", "FROMFILE"]);
  });

  test("--log-level overrides the level of the file's error_log, not its destination", () => {
    const file = write("mail.conf", FILE_TEXT);
    const { config } = loadFileAndFlags({ file, flags: { ...FLAGS, logLevel: "debug" } });
    assert.deepEqual(config.error_log, [{ path: path.join(dir, "error.log"), level: "debug", json: false }]);
  });

  test("a file without a mail block gets one for the flags' server, and a mail block from an include takes it in", () => {
    const bare = write("bare.conf", "worker_processes 1;\n");
    assert.deepEqual(effectiveServers(loadFileAndFlags({ file: bare, flags: FLAGS }).config).map((s) => s.listen[0]!.address), ["127.0.0.1:10143"]);
    write("mail.inc", "mail {\n  auth_http 127.0.0.1:9000;\n  server { listen 127.0.0.1:10144; protocol imap; }\n}\n");
    const including = write("including.conf", "include mail.inc;\n");
    const servers = effectiveServers(loadFileAndFlags({ file: including, flags: { listen: ["127.0.0.1:10143"], protocol: "imap" } }).config);
    assert.deepEqual(servers.map((s) => s.listen[0]!.address), ["127.0.0.1:10144", "127.0.0.1:10143"]);
  });

  test("a TOML file takes the flags' server too", () => {
    const file = write("mail.toml", '[mail]\nauth_http = "127.0.0.1:9000"\n\n[[mail.server]]\nlisten = ["127.0.0.1:10144"]\nprotocol = "imap"\n');
    const servers = effectiveServers(loadFileAndFlags({ file, flags: FLAGS }).config);
    assert.deepEqual(servers.map((s) => s.listen[0]!.address), ["127.0.0.1:10144", "127.0.0.1:10143"]);
  });

  test("a refusal of the flags' server is in the flags' terms; the file's own keeps its place", () => {
    const noBackend = write("no_backend.conf", "mail {\n  server { listen 127.0.0.1:10144; protocol imap; proxy_pass 127.0.0.1:143; }\n}\n");
    assert.equal(
      refusal(noBackend, { listen: ["127.0.0.1:10143"], protocol: "imap" }),
      "no backend for --listen 127.0.0.1:10143: give --upstream HOST:PORT (a passthrough backend) or --auth-http URL (an auth service), or -c FILE for a configuration file",
    );
    assert.equal(refusal(write("same.conf", FILE_TEXT), { ...FLAGS, listen: ["127.0.0.1:10144"], serverName: "file.example" }),
      'duplicate "127.0.0.1:10144" address and port pair');
    const bad = write("bad.conf", "worker_processes 1;\nbogus_directive on;\n");
    assert.equal(refusal(bad, FLAGS), `unknown directive "bogus_directive" in ${bad}:2`);
  });
});
