import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../src/config/errors.ts";
import { loadConfig } from "../../src/config/load.ts";

/** A temporary folder with the given files; removed by the returned cleanup. */
function tree(files: Record<string, string>): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), "mailproxy-config-"));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof ConfigError) return e.message;
    throw e;
  }
  return "no error";
}

describe("nginx include", () => {
  test("a glob includes matches in sorted order, in the context of the include", () => {
    const t = tree({
      "main.conf": "mail {\n  auth_http 127.0.0.1:9000;\n  include conf.d/*.conf;\n}\n",
      "conf.d/20-pop3.conf": "server { listen 110; }\n",
      "conf.d/10-imap.conf": "server { listen 143; }\nimap_capabilities IMAP4rev1;\n",
      "conf.d/.hidden.conf": "server { listen 25; }\n",
      "conf.d/notes.txt": "not included\n",
    });
    try {
      const { config } = loadConfig(join(t.dir, "main.conf"));
      assert.deepEqual(config.mail!.servers.map((s) => s.protocol), ["imap", "pop3"]);
      assert.deepEqual(config.mail!.settings.imap_capabilities, ["IMAP4rev1"]);
      assert.deepEqual(config.mail!.servers[1]!.source, { file: join(t.dir, "conf.d/20-pop3.conf"), line: 1 });
    } finally {
      t.done();
    }
  });

  test("paths are relative to the main file's folder, not the including file's", () => {
    const t = tree({
      "main.conf": "mail { include sub/a.conf; }",
      "sub/a.conf": "include sub/b.conf;",
      "sub/b.conf": "auth_http 127.0.0.1:1;",
    });
    try {
      assert.equal(loadConfig(join(t.dir, "main.conf")).config.mail!.settings.auth_http!.url, "127.0.0.1:1");
    } finally {
      t.done();
    }
  });

  test("a glob without a match is fine; a missing plain file is an error at the include line", () => {
    const t = tree({
      "main.conf": "include none/*.conf;\nmail {\n include missing.conf;\n}\n",
    });
    try {
      assert.equal(
        messageOf(() => loadConfig(join(t.dir, "main.conf"))),
        `open() "${join(t.dir, "missing.conf")}" failed (2: No such file or directory) in ${join(t.dir, "main.conf")}:3`,
      );
    } finally {
      t.done();
    }
  });

  test("glob character classes and ? match per path segment", () => {
    const t = tree({
      "main.conf": "mail { auth_http a:1; include s[0-9]/?.conf; }",
      "s1/a.conf": "server { listen 143; }",
      "s2/b.conf": "server { listen 110; }",
      "sx/c.conf": "server { listen 25; }",
      "s3/cc.conf": "server { listen 587; }",
    });
    try {
      assert.deepEqual(loadConfig(join(t.dir, "main.conf")).config.mail!.servers.map((s) => s.listen[0]!.port), [143, 110]);
    } finally {
      t.done();
    }
  });

  test("errors inside an included file name that file and line", () => {
    const t = tree({ "main.conf": "mail {\n include x.conf;\n}", "x.conf": "\n\nbogus;\n" });
    try {
      assert.equal(messageOf(() => loadConfig(join(t.dir, "main.conf"))), `unknown directive "bogus" in ${join(t.dir, "x.conf")}:3`);
    } finally {
      t.done();
    }
  });

  test("an include loop is stopped", () => {
    const t = tree({ "main.conf": "include main.conf;" });
    try {
      assert.match(messageOf(() => loadConfig(join(t.dir, "main.conf"))), /^includes nested too deeply at "main.conf" in /);
    } finally {
      t.done();
    }
  });

  test("a missing main file is reported like nginx", () => {
    assert.equal(
      messageOf(() => loadConfig("/nonexistent/mailproxy.conf")),
      'open() "/nonexistent/mailproxy.conf" failed (2: No such file or directory)',
    );
  });
});

describe("TOML include", () => {
  test("include works at the top, in [mail] and in a server, in order", () => {
    const t = tree({
      "main.toml": 'include = ["top.toml"]\n[mail]\ninclude = ["servers/*.toml"]\nauth_http = "127.0.0.1:9000"\n',
      "top.toml": "worker_processes = 2\n",
      "servers/a.toml": '[[server]]\nlisten = ["143"]\ninclude = ["extra.toml"]\n',
      "servers/b.toml": '[[server]]\nlisten = ["110"]\n',
      "extra.toml": 'imap_capabilities = ["IMAP4rev1"]\n',
    });
    try {
      const { config } = loadConfig(join(t.dir, "main.toml"));
      assert.equal(config.worker_processes, 2);
      assert.deepEqual(config.mail!.servers.map((s) => s.protocol), ["imap", "pop3"]);
      assert.deepEqual(config.mail!.servers[0]!.settings.imap_capabilities, ["IMAP4rev1"]);
    } finally {
      t.done();
    }
  });

  test("a key set in both the file and an include is a duplicate, named by file and path", () => {
    const t = tree({
      "main.toml": '[mail]\ntimeout = "5s"\ninclude = ["more.toml"]\n',
      "more.toml": 'timeout = "6s"\n',
    });
    try {
      assert.equal(messageOf(() => loadConfig(join(t.dir, "main.toml"))), `${join(t.dir, "more.toml")}: timeout: "timeout" directive is duplicate`);
    } finally {
      t.done();
    }
  });
});
