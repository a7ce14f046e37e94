/**
 * The ad-hoc command line speaks to a person: refusals in the flags' terms without a
 * place in text nobody wrote, help without colour codes off a terminal, the real TLS
 * library in -V, and no cap of nginx's 512 worker_connections when no file asked for it.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { spawn, spawnSync } from "node:child_process";
import { ensureBinary, waitForPort } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { loadWithWarnings, stripColour, versionText, wantsColour } from "../../src/cli/main.ts";
import { openFilesLimit } from "../../src/server/process/privileges.ts";
import { loadConfigText } from "../../src/config/load.ts";

let bin = "";

function run(args: string[], env: Record<string, string> = {}): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(bin, args, { encoding: "utf8", timeout: 20_000, env: { ...process.env, ...env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("mailproxy serve with flags only", () => {
  before(() => {
    bin = ensureBinary();
  });

  test("without a backend it says which flags to add, with no file:line", () => {
    const r = run(["serve", "--listen", "127.0.0.1:10143", "--protocol", "imap"]);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr,
      "mailproxy: [emerg] no backend for --listen 127.0.0.1:10143: give --upstream HOST:PORT (a passthrough backend) " +
        "or --auth-http URL (an auth service), or -c FILE for a configuration file\n",
    );
  });

  test("on a port that names no protocol it asks for --protocol", () => {
    const r = run(["serve", "--listen", "127.0.0.1:10143", "--upstream", "127.0.0.1:143"]);
    assert.equal(r.stderr, "mailproxy: [emerg] unknown mail protocol for --listen 127.0.0.1:10143: give --protocol imap, pop3, smtp or sieve\n");
  });

  test("an ssl listen without a certificate names the certificate flags", () => {
    const r = run(["serve", "--listen", "127.0.0.1:10993 ssl", "--protocol", "imap", "--upstream", "127.0.0.1:993"]);
    assert.equal(r.stderr, "mailproxy: [emerg] --listen 127.0.0.1:10993 ssl needs --ssl-certificate FILE and --ssl-certificate-key FILE\n");
  });

  test("a bad flag value is refused in nginx's words, without the generated text's place", () => {
    const r = run(["serve", "--listen", "127.0.0.1:99999", "--protocol", "imap", "--upstream", "127.0.0.1:143"]);
    assert.equal(r.stderr, 'mailproxy: [emerg] invalid port in "127.0.0.1:99999" of the "listen" directive\n');
  });

  test("600 idle IMAP clients are all greeted: no file asked for nginx's 512 worker_connections", async () => {
    const port = await freePort();
    const child = spawn(bin, ["serve", "--listen", `127.0.0.1:${port}`, "--protocol", "imap", "--upstream", "127.0.0.1:1", "--log-level", "alert"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    child.stderr!.on("data", (d) => (log += d));
    const exited = new Promise((resolve) => child.on("exit", resolve));
    const clients: net.Socket[] = [];
    try {
      await waitForPort(port);
      const greetings = [];
      for (let i = 0; i < 600; i++) {
        const socket = net.connect(port, "127.0.0.1");
        clients.push(socket);
        greetings.push(new Promise<string>((resolve) => {
          socket.once("data", (d) => resolve(d.toString("latin1")));
          socket.once("close", () => resolve("closed"));
          socket.once("error", () => resolve("error"));
        }));
      }
      const got = await Promise.all(greetings);
      assert.equal(got.filter((g) => g.startsWith("* OK ")).length, 600, `513th: ${got[512]}; log: ${log}`);
      assert.doesNotMatch(log, /worker_connections are not enough/);
    } finally {
      for (const c of clients) c.destroy();
      child.kill("SIGTERM");
      await exited;
    }
  });

  test("flags alone bound connections by the open-files limit; a file keeps nginx's default of 512", () => {
    const adhoc = { listen: ["127.0.0.1:10143"], protocol: "imap", upstream: "127.0.0.1:143" };
    const limit = openFilesLimit();
    const expected = limit === undefined || !Number.isFinite(limit) ? 0 : limit;
    assert.equal(loadWithWarnings({ adhoc }).config.worker_connections, expected);
    const file = loadConfigText("mail { server { listen 143; proxy_pass 127.0.0.1:143; } }", "/cfg/m.conf");
    assert.equal(file.config.worker_connections, 512);
  });
});

describe("help and version", () => {
  before(() => {
    bin = ensureBinary();
  });

  test("--help writes no colour codes when its output is not a terminal", () => {
    const r = run(["--help"]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /USAGE/);
    assert.doesNotMatch(r.stdout, /\x1b\[/);
    assert.doesNotMatch(run(["serve", "--help"]).stdout, /\x1b\[/);
  });

  test("colour only on a terminal without NO_COLOR", () => {
    assert.equal(wantsColour({ isTTY: true }, {}), true);
    assert.equal(wantsColour({ isTTY: true }, { NO_COLOR: "yes" }), false);
    assert.equal(wantsColour({ isTTY: false }, {}), false);
    assert.equal(wantsColour({}, {}), false);
    assert.equal(stripColour("\x1b[1mUSAGE\x1b[22m \x1b[36mmailproxy\x1b[39m"), "USAGE mailproxy");
  });

  test("-V names the TLS library the runtime really uses, not its OpenSSL compatibility string", () => {
    const library = "Deno" in globalThis ? "rustls" : "BoringSSL";
    const text = versionText(true);
    assert.match(text, new RegExp(`^built with ${library} \\(node:tls\\)`, "m"));
    assert.doesNotMatch(text, /openssl/i);
    assert.match(run(["-V"]).stderr, /^built with BoringSSL \(node:tls\)/m);
  });
});
