/**
 * Log files that cannot be opened: at start the proxy says so in nginx's words and
 * exits 1 (no stack trace); on USR1 it says so as an [alert] and keeps its old files;
 * `error_log /dev/stderr` works when stderr is a socket, as under systemd or docker.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { ensureBinary, waitForPort } from "../support/binary.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/temp_dir.ts";

function logDir(): string {
  return tempDir("mailproxy-logs-");
}

describe("log files that cannot be opened", () => {
  test("at start: nginx's open() message and exit status 1, nothing else", async () => {
    const dir = logDir();
    const file = path.join(dir, "mail.conf");
    fs.writeFileSync(file, `error_log ${dir}/missing/error.log;\nmail { server { listen 127.0.0.1:${await freePort()}; protocol imap; proxy_pass 127.0.0.1:1; } }\n`);
    const r = spawnSync(ensureBinary(), ["-c", file], { encoding: "utf8", timeout: 10_000 });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `mailproxy: [emerg] open() "${dir}/missing/error.log" failed (2: No such file or directory)\n`);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("on USR1: an [alert] in the log still open, and the proxy keeps serving", async () => {
    const dir = logDir();
    const port = await freePort();
    const file = path.join(dir, "mail.conf");
    fs.mkdirSync(path.join(dir, "logs"));
    fs.writeFileSync(file, `error_log ${dir}/logs/error.log info;\nmail { server { listen 127.0.0.1:${port}; protocol imap; proxy_pass 127.0.0.1:1; } }\n`);
    const child = spawn(ensureBinary(), ["-c", file], { stdio: "ignore" });
    await waitForPort(port);
    // logrotate moved the folder away: the log cannot be opened again at its path
    fs.renameSync(path.join(dir, "logs"), path.join(dir, "rotated"));
    process.kill(child.pid!, "SIGUSR1");
    const rotated = path.join(dir, "rotated", "error.log");
    for (let i = 0; i < 100 && !fs.readFileSync(rotated, "utf8").includes("[alert]"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(fs.readFileSync(rotated, "utf8"), new RegExp(`\\[alert\\] \\d+#0: open\\(\\) "${dir}/logs/error.log" failed \\(2: No such file or directory\\)`));
    const greeting = await new Promise<string>((resolve) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("data", (d) => {
        resolve(d.toString());
        s.destroy();
      });
    });
    assert.equal(greeting, "* OK IMAP4 ready\r\n");
    process.kill(child.pid!, "SIGTERM");
    await new Promise((r) => child.once("exit", r));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test("error_log /dev/stderr writes to a stderr that is a socket", async () => {
    const dir = logDir();
    const port = await freePort();
    const file = path.join(dir, "mail.conf");
    fs.writeFileSync(file, `error_log /dev/stderr info;\nmail { server { listen 127.0.0.1:${port}; protocol imap; proxy_pass 127.0.0.1:1; } }\n`);
    // stderr a socket, as systemd gives (a pipe would open fine through /proc): python3 makes
    // a socketpair, hands one end to the proxy as stderr and copies the other to its stdout.
    const launcher = `import signal, socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[1:], stderr=b.fileno(), stdout=subprocess.DEVNULL)
b.close()
signal.signal(signal.SIGTERM, lambda *_: p.terminate())
while True:
    d = a.recv(4096)
    if not d: break
    sys.stdout.buffer.write(d); sys.stdout.flush()
`;
    const child = spawn("python3", ["-c", launcher, ensureBinary(), "-c", file], { stdio: ["ignore", "pipe", "ignore"] });
    let err = "";
    child.stdout!.on("data", (d) => (err += d.toString()));
    await waitForPort(port);
    const s = net.connect(port, "127.0.0.1");
    await new Promise((r) => s.once("data", r));
    s.destroy();
    for (let i = 0; i < 100 && !err.includes("client connected"); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /\[info\] \d+#0: \*1 client connected to 127\.0\.0\.1:\d+/);
    process.kill(child.pid!, "SIGTERM"); // the launcher passes it on to the proxy
    await new Promise((r) => child.once("exit", r));
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
