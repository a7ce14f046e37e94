/**
 * The rule of src/wire/ kept in the code's shape: only the encoders there make `Wire`
 * text, so nothing outside can dress an unchecked string up as encoded.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../support/repo.ts";

const SRC = path.join(REPO_ROOT, "src");

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    return entry.isDirectory() ? sourceFiles(full) : entry.name.endsWith(".ts") ? [full] : [];
  });
}

describe("the wire encoders are the only way to make Wire text", () => {
  const outside = sourceFiles(SRC).filter((file) => !file.startsWith(path.join(SRC, "wire") + path.sep));

  test("no file outside src/wire/ uses wireText() or casts to a Wire type", () => {
    const offenders = outside.filter((file) => {
      const text = fs.readFileSync(file, "utf8");
      return /\bwireText\b|as (unknown as )?(Backend)?Wire\b/.test(text);
    });
    assert.deepEqual(offenders.map((f) => path.relative(SRC, f)), []);
  });

  test("the sockets toward the auth service and the backends are written only with Wire text", () => {
    const backend = fs.readFileSync(path.join(SRC, "upstream", "backend.ts"), "utf8");
    assert.match(backend, /private write\(data: BackendWire\): void \{/);
    assert.match(backend, /proxyHeader\?: Wire<"proxy">/);
    const auth = fs.readFileSync(path.join(SRC, "auth", "auth_http.ts"), "utf8");
    assert.equal(auth.match(/text: Wire<"http">/g)?.length, 1, "query() takes the encoded request");
    const connection = fs.readFileSync(path.join(SRC, "auth", "auth_connection.ts"), "utf8");
    assert.equal(connection.match(/text: Wire<"http">/g)?.length, 1, "an exchange's job holds the encoded request");
    assert.deepEqual(connection.match(/\.write\([^)]*\)/g), ['.write(Buffer.from(job.text, "latin1")'], "the one write is the job's request");
  });
});
