/**
 * The command line as an operator meets it: dist/mailproxy's exit codes and
 * messages for nginx's flags and for the subcommands.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import tls from "node:tls";
import { spawn, spawnSync } from "node:child_process";
import { ensureBinary, waitForPort } from "../support/binary.ts";
import { makeTestCertificate } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/temp_dir.ts";

let bin = "";
const dir = tempDir("mailproxy-cli-");

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}

function run(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const GOOD = `mail {
    auth_http 127.0.0.1:9000/auth;
    server {
        listen 127.0.0.1:10143;
        protocol imap;
    }
}
`;

describe("mailproxy command line", () => {
  before(() => {
    bin = ensureBinary();
  });

  test("-t on a good file says the syntax is ok and the test is successful", () => {
    const file = write("good.conf", GOOD);
    const r = run("-t", "-c", file);
    assert.equal(r.code, 0);
    assert.equal(
      r.stderr,
      `mailproxy: the configuration file ${file} syntax is ok\n` +
        `mailproxy: configuration file ${file} test is successful\n`,
    );
  });

  test("-t warns once about an http block it ignores and still succeeds", () => {
    const file = write("with-http.conf", `http {\n    server { listen 80; }\n}\n${GOOD}`);
    const r = run("-t", "-c", file);
    assert.equal(r.code, 0);
    assert.equal(
      r.stderr,
      `mailproxy: [warn] "http" directive is ignored by mailproxy in ${file}:1\n` +
        `mailproxy: the configuration file ${file} syntax is ok\n` +
        `mailproxy: configuration file ${file} test is successful\n`,
    );
  });

  test("-t -q prints nothing for a good file", () => {
    const r = run("-t", "-q", "-c", write("good.conf", GOOD));
    assert.equal(r.code, 0);
    assert.equal(r.stderr, "");
  });

  test("-t names the file and line of an unknown directive and exits 1", () => {
    const file = write("bad.conf", GOOD.replace("protocol imap;", "protocol imap;\n        imap_foo on;"));
    const r = run("-t", "-c", file);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      `mailproxy: [emerg] unknown directive "imap_foo" in ${file}:6\n` +
        `mailproxy: configuration file ${file} test failed\n`,
    );
  });

  test("check refuses a server without an auth source with the server's line", () => {
    const file = write("noauth.conf", "mail {\n    server {\n        listen 127.0.0.1:10143;\n        protocol imap;\n    }\n}\n");
    const r = run("check", "-c", file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`\\[emerg\\] no "auth_http" is defined for server in ${file}:2\\n`));
  });

  test("check on a TOML file reports the TOML path of a bad value", () => {
    const file = write(
      "bad.toml",
      '[mail]\nauth_http = "127.0.0.1:9000"\n[[mail.server]]\nlisten = ["127.0.0.1:99999"]\nprotocol = "imap"\n',
    );
    const r = run("check", "-c", file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[emerg\] .*bad\.toml: mail\.server\[0\]\.listen\[0\]: invalid port in "127\.0\.0\.1:99999"/);
  });

  test("-t loads certificates and refuses one that cannot be read", () => {
    const file = write(
      "tls.conf",
      GOOD.replace("protocol imap;", "protocol imap;\n        starttls on;\n        ssl_certificate /nonexistent/cert.pem;\n        ssl_certificate_key /nonexistent/key.pem;"),
    );
    const r = run("-t", "-c", file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`\\[emerg\\] open\\(\\) "/nonexistent/cert\\.pem" failed \\(2: No such file or directory\\) in ${file}:7\\n`));
  });

  test("-T prints each configuration file verbatim under its name, includes once each, as nginx -T does", () => {
    const imap = write("dump.d/imap.conf", "server { listen 127.0.0.1:10145; protocol imap; }  # as written");
    const top = write("dump.d/top.conf", "# top level\n");
    const main = write("dump.conf", `mail {\n    auth_http 127.0.0.1:9000/auth;\n    include dump.d/imap.conf;\n}\ninclude dump.d/top.conf;\ninclude dump.d/t*.conf;`);
    const r = run("-T", "-c", main);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      `# configuration file ${main}:\n${fs.readFileSync(main, "utf8")}\n` +
        `# configuration file ${imap}:\n${fs.readFileSync(imap, "utf8")}\n` +
        `# configuration file ${top}:\n# top level\n\n`,
    );
  });

  test("the normalized effective view stays available as config --to nginx", () => {
    const r = run("config", "--to", "nginx", "-c", write("good.conf", GOOD));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^mail \{\n/m);
    assert.match(r.stdout, /listen 127\.0\.0\.1:10143;/);
  });

  test("started from / with ssl_certificate cert.pem, it finds the certificate beside its configuration and greets over TLS", async () => {
    const cert = makeTestCertificate();
    const port = await freePort();
    const file = path.join(cert.dir, "mailproxy.conf");
    fs.writeFileSync(file, GOOD.replace("listen 127.0.0.1:10143;", `listen 127.0.0.1:${port} ssl;\n        ssl_certificate cert.pem;\n        ssl_certificate_key key.pem;`));
    const child = spawn(bin, ["-c", file], { cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stderr!.on("data", (d) => (output += d));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    try {
      await Promise.race([waitForPort(port), exited.then(() => assert.fail(`mailproxy exited: ${output}`))]);
      const greeting = await new Promise<string>((resolve, reject) => {
        const socket = tls.connect({ host: "127.0.0.1", port, ca: cert.ca, servername: "localhost" });
        socket.once("data", (d) => {
          resolve(d.toString("latin1"));
          socket.destroy();
        });
        socket.once("error", reject);
      });
      assert.match(greeting, /^\* OK /);
    } finally {
      child.kill("SIGTERM");
      await exited;
      cert.remove();
    }
  });

  test("-t refuses an unknown user, an address not on this host and another module's proxy_ directive, as nginx -t does", () => {
    const user = write("user.conf", `user nosuchuser;\n${GOOD}`);
    assert.equal(run("-t", "-c", user).stderr, `mailproxy: [emerg] getpwnam("nosuchuser") failed in ${user}:1\n` +
      `mailproxy: configuration file ${user} test failed\n`);
    const bind = write("bind.conf", GOOD.replace("127.0.0.1:10143", "192.0.2.1:10143"));
    assert.equal(run("-t", "-c", bind).stderr, `mailproxy: [emerg] bind() to 192.0.2.1:10143 failed (99: Cannot assign requested address) in ${bind}:4\n` +
      `mailproxy: configuration file ${bind} test failed\n`);
    const header = write("header.conf", GOOD.replace("protocol imap;", "protocol imap;\n        proxy_pass_header X-Real-IP;"));
    const r = run("-t", "-c", header);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, `mailproxy: [emerg] "proxy_pass_header" directive is not allowed here in ${header}:6\n` +
      `mailproxy: configuration file ${header} test failed\n`);
  });

  test("-t checks the syntax inside a skipped http block but not its directive names", () => {
    const names = write("http-names.conf", `http {\n    no_such_http_directive on;\n}\n${GOOD}`);
    assert.equal(run("-t", "-q", "-c", names).code, 0);
    const quote = write("http-quote.conf", `http {\n    add_header X "a"b;\n}\n${GOOD}`);
    assert.equal(run("-t", "-q", "-c", quote).stderr, `mailproxy: [emerg] unexpected "b" in ${quote}:2\n` +
      `mailproxy: configuration file ${quote} test failed\n`);
  });

  test("-g adds top-level directives and rejects bad ones", () => {
    const file = write("good.conf", GOOD);
    assert.equal(run("-t", "-q", "-c", file, "-g", "worker_processes 2;").code, 0);
    const r = run("-t", "-c", file, "-g", "daemon maybe;");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /invalid value "maybe" in "daemon" directive, it must be "on" or "off" in command line/);
  });

  test("includes are resolved relative to the main file with -p changing nothing else", () => {
    write("conf.d/imap.conf", "server { listen 127.0.0.1:10144; protocol imap; }\n");
    const file = write("main.conf", "mail { auth_http 127.0.0.1:9000; include conf.d/*.conf; }\n");
    const r = run("config", "--to", "nginx", "-c", file);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /listen 127\.0\.0\.1:10144;/);
  });

  test("config --to toml and back gives the same nginx text", () => {
    const file = write("good.conf", GOOD);
    const toml = run("config", "-c", file, "--to", "toml");
    assert.equal(toml.code, 0, toml.stderr);
    assert.match(toml.stdout, /\[\[mail\.server\]\]/);
    const tomlFile = write("converted.toml", toml.stdout);
    const back = run("config", "-c", tomlFile, "--to", "nginx");
    assert.equal(back.code, 0, back.stderr);
    assert.equal(back.stdout, run("config", "-c", file, "--to", "nginx").stdout);
  });

  test("-v and -V print the version, -V with runtime and build options", () => {
    assert.equal(run("-v").stderr, "mailproxy version: mailproxy/0.1.0\n");
    const v = run("-V");
    assert.equal(v.code, 0);
    assert.match(v.stderr, /^mailproxy version: mailproxy\/0\.1\.0\nruntime: bun \d+\.\d+\.\d+ \(linux-x64\)\n/);
    assert.match(v.stderr, /configure arguments: /);
    assert.match(run("version").stdout, /^mailproxy version: mailproxy\/0\.1\.0\n/);
  });

  test("an unknown flag is refused with exit 1", () => {
    const r = run("-x");
    assert.equal(r.code, 1);
    assert.equal(r.stderr, 'mailproxy: invalid option: "x"\n');
  });

  test("-s without a running master names the pid file it could not open", () => {
    const file = write("pid.conf", `pid ${path.join(dir, "none.pid")};\n${GOOD}`);
    const r = run("-s", "reload", "-c", file);
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`\\[error\\] open\\(\\) "${path.join(dir, "none.pid")}" failed`));
  });

  test("serve with ad-hoc flags refuses a bad listen address", () => {
    const r = run("serve", "--listen", "127.0.0.1:99999", "--protocol", "imap", "--upstream", "127.0.0.1:143");
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[emerg\] invalid port in "127\.0\.0\.1:99999" of the "listen" directive/);
  });

  test("a missing configuration file is an error, not a crash", () => {
    const r = run("-t", "-c", path.join(dir, "missing.conf"));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /\[emerg\] open\(\) ".*missing\.conf" failed \(2: No such file or directory\)/);
  });
});
