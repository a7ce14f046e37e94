/**
 * `make dist`'s Debian package, unpacked into a scratch root with dpkg-deb -x (as
 * `dpkg -i` would lay it out, without root): the binary runs, the unit, default
 * config, man page and completion are where the unit and the docs say.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "../../support/repo.ts";
import { tempDir } from "../../support/temp_dir.ts";


function run(cmd: string, args: string[], opts: { cwd?: string; env?: Record<string, string> } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? REPO_ROOT, encoding: "utf8", env: { ...process.env, ...opts.env } });
  return { status: r.status, out: (r.stdout ?? "") + (r.stderr ?? ""), stdout: r.stdout ?? "" };
}

/** Newest modification time under src/ (the binary is fresh when it is newer). */
function newestSource(dir: string): number {
  let newest = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestSource(p) : fs.statSync(p).mtimeMs);
  }
  return newest;
}

function version(): string {
  return /VERSION = "([^"]+)"/.exec(fs.readFileSync(path.join(REPO_ROOT, "src/version.ts"), "utf8"))![1]!;
}

describe("the Debian package", () => {
  let scratch: string;
  let deb: string;

  before(() => {
    const binary = path.join(REPO_ROOT, "dist/mailproxy");
    const fresh = fs.existsSync(binary) && fs.statSync(binary).mtimeMs > newestSource(path.join(REPO_ROOT, "src"));
    // A fresh binary is packaged as is; otherwise `make dist` compiles it first.
    const built = fresh ? run("sh", ["scripts/package/build-deb.sh"]) : run("make", ["-s", "dist"]);
    assert.equal(built.status, 0, built.out);
    const arch = run("dpkg", ["--print-architecture"]).stdout.trim();
    deb = path.join(REPO_ROOT, `dist/mailproxy_${version()}_${arch}.deb`);
    assert.ok(fs.existsSync(deb), built.out);
    scratch = tempDir("mailproxy-deb-");
    const x = run("dpkg-deb", ["-x", deb, scratch]);
    assert.equal(x.status, 0, x.out);
  });

  after(() => fs.rmSync(scratch, { recursive: true, force: true }));

  test("the control data names the package, its version and the config as a conffile", () => {
    const info = run("dpkg-deb", ["-I", deb]);
    assert.equal(info.status, 0, info.out);
    assert.match(info.out, /^ Package: mailproxy$/m);
    assert.match(info.out, new RegExp(`^ Version: ${version().replace(/\./g, "\\.")}$`, "m"));
    assert.match(info.out, /^ Section: mail$/m);
    const field = run("dpkg-deb", ["-f", deb, "Package"]);
    assert.equal(field.stdout, "mailproxy\n");
    const ctl = tempDir("mailproxy-ctl-");
    try {
      assert.equal(run("dpkg-deb", ["-e", deb, ctl]).status, 0);
      assert.equal(fs.readFileSync(path.join(ctl, "conffiles"), "utf8"), "/etc/mailproxy/mailproxy.conf\n");
    } finally {
      fs.rmSync(ctl, { recursive: true, force: true });
    }
  });

  test("the package lists the binary, unit, config, man page and completion, owned by root", () => {
    const listing = run("dpkg-deb", ["-c", deb]).out;
    for (const [mode, file] of [
      ["-rwxr-xr-x", "./usr/bin/mailproxy"],
      ["-rw-r--r--", "./etc/mailproxy/mailproxy.conf"],
      ["-rw-r--r--", "./usr/lib/systemd/system/mailproxy.service"],
      ["-rw-r--r--", "./usr/share/man/man8/mailproxy.8.gz"],
      ["-rw-r--r--", "./usr/share/bash-completion/completions/mailproxy"],
      ["-rw-r--r--", "./usr/share/doc/mailproxy/deploy.md"],
      ["-rw-r--r--", "./usr/share/doc/mailproxy/examples/haproxy.cfg"],
    ]) {
      assert.match(listing, new RegExp(`^${mode} root/root .* ${file.replace(/\./g, "\\.")}$`, "m"), file);
    }
  });

  test("the packaged binary prints its version with -V", () => {
    const r = run(path.join(scratch, "usr/bin/mailproxy"), ["-V"]);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, new RegExp(`^mailproxy version: mailproxy/${version().replace(/\./g, "\\.")}\n`));
    assert.match(r.out, /^runtime: bun /m);
  });

  test("the default config passes mailproxy -t as installed", () => {
    const conf = path.join(scratch, "etc/mailproxy/mailproxy.conf");
    const r = run(path.join(scratch, "usr/bin/mailproxy"), ["-t", "-c", conf]);
    assert.equal(
      r.out,
      `mailproxy: the configuration file ${conf} syntax is ok\nmailproxy: configuration file ${conf} test is successful\n`,
    );
    assert.equal(r.status, 0);
    const text = fs.readFileSync(conf, "utf8");
    assert.match(text, /^pid \/run\/mailproxy\.pid;$/m, "-s reload finds the master through this pid file");
  });

  test("the systemd unit runs the packaged binary in the foreground, reloads with HUP and stops with QUIT", () => {
    const unit = fs.readFileSync(path.join(scratch, "usr/lib/systemd/system/mailproxy.service"), "utf8");
    for (
      const line of [
        "Type=simple",
        "ExecStart=/usr/bin/mailproxy -c /etc/mailproxy/mailproxy.conf",
        "ExecReload=/usr/bin/mailproxy -t -q -c /etc/mailproxy/mailproxy.conf",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillSignal=SIGQUIT",
        "KillMode=mixed",
        "TimeoutStopSec=60",
        "WantedBy=multi-user.target",
      ]
    ) assert.ok(unit.split("\n").includes(line), line);
  });

  test("the man page is mailproxy(8) with every directive of the table", async () => {
    const { DIRECTIVES } = await import("../../../src/config/directives.ts");
    const gz = path.join(scratch, "usr/share/man/man8/mailproxy.8.gz");
    const roff = run("gzip", ["-dc", gz]).stdout;
    assert.match(roff, /^\.TH MAILPROXY 8 /);
    assert.match(roff, /^\.SH NAME\nmailproxy \\- IMAP, POP3 and SMTP proxy/m);
    // troff reads bytes: the docs' → and — must be escapes, or they render as garbage.
    assert.doesNotMatch(roff, /[^\x00-\x7f]/);
    for (const d of DIRECTIVES) assert.ok(roff.includes(`.B ${d.name.replace(/-/g, "\\-")}`), d.name);
    if (run("sh", ["-c", "command -v man"]).status === 0) {
      const r = run("man", ["-l", gz], { env: { MANWIDTH: "80", MANPAGER: "cat", PAGER: "cat" } });
      assert.equal(r.status, 0, r.out);
      assert.match(r.stdout, /^MAILPROXY\(8\) +System Administration +MAILPROXY\(8\)$/m);
      assert.match(r.stdout, /^ {7}-s signal$/m);
      assert.match(r.stdout, /^ {7}proxy_pass host:port \| upstream;$/m);
    }
  });

  test("bash completion offers the subcommands and the signal names", () => {
    const file = path.join(scratch, "usr/share/bash-completion/completions/mailproxy");
    const complete = (words: string) =>
      run("bash", [
        "-c",
        `source ${file}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _mailproxy; echo "\${COMPREPLY[*]}"`,
      ]).stdout;
    assert.equal(complete(`mailproxy ""`).split(" ").slice(0, 4).join(" "), "serve check config version");
    assert.equal(complete(`mailproxy -s r`), "reopen reload\n");
    assert.equal(complete(`mailproxy config --to ""`), "toml nginx\n");
  });
});
