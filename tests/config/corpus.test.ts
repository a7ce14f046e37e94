/**
 * The acceptance corpus: real-world `mail { }` configurations (tests/config/corpus/*.conf,
 * each citing its source) checked with `mailproxy -t` run from `/` against the verdict
 * nginx 1.22 gives (`# nginx 1.22 -t:` in the file); each accepted one is then started
 * on high loopback ports and must greet on every listener. Certificates, keys and DH
 * parameters the files name (relative to them) are generated here. Where nginx is
 * installed with its mail module, its verdict is checked live too.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { ensureBinary, waitForPort } from "../support/binary.ts";
import { makeTestCertificate, type TestCertificate } from "../support/backends.ts";
import { freePort } from "../support/ports.ts";
import { type DnsServer, startDnsServer } from "../support/dns_server.ts";
import { tempDir } from "../support/temp_dir.ts";

const CORPUS = path.join(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "corpus");
const ENTRIES = fs.readdirSync(CORPUS).filter((f) => f.endsWith(".conf")).sort();
const NGINX_MAIL_MODULE = "/usr/lib/nginx/modules/ngx_mail_module.so";

/** `ok` or the `[emerg] ...` line nginx prints, `%DIR%` standing for the corpus folder. */
function expectedVerdict(text: string): string {
  const m = /^# nginx 1\.22 -t: (.*)$/m.exec(text);
  if (!m) throw new Error("no '# nginx 1.22 -t:' line");
  return m[1]!;
}

/** A deliberate difference, when the file records one: `# mailproxy -t: ok (why)`. */
function mailproxyVerdict(text: string): string | undefined {
  return /^# mailproxy -t: (\S+)/m.exec(text)?.[1];
}

const FILE_DIRECTIVE = /\b(ssl_certificate|ssl_certificate_key|ssl_trusted_certificate|ssl_client_certificate|ssl_dhparam|ssl_password_file)\s+([^\s;]+)/g;

/** The corpus copied to a fresh folder, with every file its entries name generated there. */
function stageCorpus(cert: TestCertificate, dhparam: string): string {
  const dir = tempDir("mailproxy-corpus-");
  fs.cpSync(CORPUS, dir, { recursive: true });
  const texts = fs.readdirSync(dir, { recursive: true }).map(String).filter((f) => f.endsWith(".conf"))
    .map((f) => fs.readFileSync(path.join(dir, f), "utf8"));
  for (const text of texts) {
    for (const [, directive, file] of text.matchAll(FILE_DIRECTIVE)) {
      const target = path.join(dir, file!);
      fs.mkdirSync(path.dirname(target), { recursive: true });
      const content = directive === "ssl_certificate_key" ? cert.key
        : directive === "ssl_dhparam" ? dhparam
        : directive === "ssl_password_file" ? "unused\n"
        : directive === "ssl_certificate" ? cert.cert
        : cert.ca;
      fs.writeFileSync(target, content);
    }
  }
  return dir;
}

interface Listener {
  port: number;
  ssl: boolean;
  proxyProtocol: boolean;
  protocol: string;
}

/**
 * Every `listen` of the file (and of the files it includes, rewritten in place) moved to
 * a free high loopback port, the same original address keeping one port; pid files
 * moved into the staging folder; mail resolvers pointed at the test's DNS server.
 */
async function rewrite(dir: string, entry: string, dnsPort: number): Promise<{ listeners: Listener[]; ports: Map<string, number> }> {
  const ports = new Map<string, number>();
  const listeners: Listener[] = [];
  const main = path.join(dir, entry);
  const files = [main, ...includedFiles(dir, fs.readFileSync(main, "utf8"))];
  for (const file of files) {
    let text = fs.readFileSync(file, "utf8");
    // In the entry only the mail block's listens move (an http { } may come before or after it).
    const mail = text.search(/^mail\s*\{/m);
    const mailEnd = mail < 0 ? -1 : text.indexOf("\n}", mail);
    const parts: string[] = [];
    let last = 0;
    for (const m of text.matchAll(/^(\s*)listen(\s+)([^\s;]+)([^;]*);/gm)) {
      if (file === main && (mail < 0 || m.index! < mail || m.index! > mailEnd)) continue;
      const original = m[3]!;
      if (!ports.has(original)) ports.set(original, await freePort());
      const port = ports.get(original)!;
      const block = text.slice(m.index!, text.indexOf("}", m.index!));
      listeners.push({
        port,
        ssl: /\bssl\b/.test(m[4]!) || /^\s*ssl\s+on;/m.test(block) || /^\s*ssl\s+on;/m.test(text.slice(0, m.index!).split("server {")[0]!),
        proxyProtocol: /\bproxy_protocol\b/.test(m[4]!),
        protocol: /protocol\s+(imap|pop3|smtp);/.exec(block)?.[1] ?? "",
      });
      parts.push(text.slice(last, m.index!), `${m[1]}listen${m[2]}127.0.0.1:${port}${m[4]};`);
      last = m.index! + m[0].length;
    }
    text = parts.join("") + text.slice(last);
    text = text.replace(/^(\s*)pid\s+[^;]+;/m, `$1pid ${path.join(dir, "nginx.pid")};`);
    // Name servers of the mail block: the test's own, which answers every PTR query at once.
    if (file === main) text = text.slice(0, mail) + text.slice(mail).replace(/^(\s*)resolver\s+[^;]+;/gm, `$1resolver 127.0.0.1:${dnsPort};`);
    fs.writeFileSync(file, text);
  }
  return { listeners, ports };
}

/** The files the entry's `include` lines name (a `*` matches within a name). */
function includedFiles(dir: string, text: string): string[] {
  return [...text.matchAll(/^\s*include\s+([^;\s]+);/gm)].flatMap(([, pattern]) => {
    const folder = path.join(dir, path.dirname(pattern!));
    const name = new RegExp(`^${path.basename(pattern!).replace(/[.+?^${}()|[\]\\]/g, "\\$&").replaceAll("*", ".*")}$`);
    return fs.existsSync(folder) ? fs.readdirSync(folder).filter((f) => name.test(f)).map((f) => path.join(folder, f)) : [];
  });
}

/** The first bytes a listener sends: IMAP `* OK`, POP3 `+OK`, SMTP `220`. */
function greeting(l: Listener): Promise<string> {
  return new Promise((resolve, reject) => {
    const plain = net.connect(l.port, "127.0.0.1", () => {
      if (l.proxyProtocol) plain.write(`PROXY TCP4 127.0.0.2 127.0.0.1 40000 ${l.port}\r\n`);
      const socket = l.ssl ? tls.connect({ socket: plain, rejectUnauthorized: false }) : plain;
      socket.once("data", (d) => {
        resolve(d.toString("latin1").split("\r\n")[0]!);
        socket.destroy();
      });
      socket.once("error", reject);
    });
    plain.once("error", reject);
    plain.setTimeout(20_000, () => reject(new Error(`no greeting on ${l.port}`)));
  });
}

const GREETING: Record<string, RegExp> = { imap: /^\* OK /, pop3: /^\+OK /, smtp: /^220 / };

describe("real-world configurations: mailproxy -t from / agrees with nginx, and the accepted ones greet", () => {
  let bin = "";
  let cert: TestCertificate;
  let dhparam = "";
  let dns: DnsServer;
  before(async () => {
    dns = await startDnsServer(() => "nxdomain");
    bin = ensureBinary();
    cert = makeTestCertificate({ altNames: ["DNS:localhost", "IP:127.0.0.1"] });
    execFileSync("openssl", ["genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", path.join(cert.dir, "dh.pem")]);
    dhparam = fs.readFileSync(path.join(cert.dir, "dh.pem"), "utf8");
  });
  after(async () => {
    cert.remove();
    await dns.close();
  });

  test("the corpus holds at least 20 configurations, each citing its source and nginx's verdict", () => {
    assert.ok(ENTRIES.length >= 20, `${ENTRIES.length} entries`);
    for (const entry of ENTRIES) {
      const text = fs.readFileSync(path.join(CORPUS, entry), "utf8");
      assert.match(text, /^# source: /, entry);
      expectedVerdict(text);
    }
  });

  for (const entry of ENTRIES) {
    test(entry, async () => {
      const original = fs.readFileSync(path.join(CORPUS, entry), "utf8");
      const dir = stageCorpus(cert, dhparam);
      try {
        const { listeners, ports } = await rewrite(dir, entry, dns.port);
        const file = path.join(dir, entry);
        // `%ADDR(143)%`: the address `listen 143` was moved to.
        const nginx = expectedVerdict(original).replaceAll("%DIR%", dir)
          .replace(/%ADDR\(([^)]+)\)%/g, (_, address: string) => `127.0.0.1:${ports.get(address)}`);
        const expected = mailproxyVerdict(original) ?? nginx;
        if (fs.existsSync(NGINX_MAIL_MODULE) && spawnSync("nginx", ["-v"]).status === 0) {
          // stderr to a file: nginx opens /dev/stderr itself, which fails on a socket.
          const out = path.join(dir, "nginx.out");
          const live = spawnSync("sh", ["-c", 'nginx -t -p "$1" -c "$2" -g "load_module $3; error_log stderr;" 2>"$4"', "sh", dir, file, NGINX_MAIL_MODULE, out], { cwd: "/" });
          const said = fs.readFileSync(out, "utf8");
          if (nginx === "ok") assert.equal(live.status, 0, said);
          else assert.match(said, new RegExp(`\\] \\d+#\\d+: ${escape(nginx.replace(/^\[emerg\] /, ""))}\n`));
        }
        const r = spawnSync(bin, ["-t", "-c", file], { encoding: "utf8", cwd: "/", timeout: 30_000 });
        if (expected === "ok") {
          assert.equal(r.status, 0, r.stderr);
          assert.match(r.stderr, /test is successful\n$/);
        } else {
          assert.equal(r.status, 1, r.stderr);
          assert.match(r.stderr, new RegExp(`^mailproxy: ${escape(expected)}\n`, "m"));
          return;
        }

        // stderr to a file, as a service manager gives it: `error_log /dev/stderr` opens it.
        const logFile = path.join(dir, "stderr.log");
        const logFd = fs.openSync(logFile, "w");
        const child = spawn(bin, ["-c", file], { cwd: "/", stdio: ["ignore", "ignore", logFd] });
        fs.closeSync(logFd);
        const log = () => fs.readFileSync(logFile, "utf8");
        const exited = new Promise((resolve) => child.on("exit", resolve));
        try {
          for (const l of listeners) {
            await Promise.race([waitForPort(l.port), exited.then(() => assert.fail(`mailproxy exited: ${log()}`))]);
            assert.match(await greeting(l), GREETING[l.protocol]!, `${entry}: port ${l.port} (${l.protocol}${l.ssl ? " ssl" : ""})`);
          }
        } finally {
          child.kill("SIGTERM");
          await exited;
        }
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
