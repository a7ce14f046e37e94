import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { directiveReference, withReference } from "../../src/config/reference.ts";
import { DIRECTIVES } from "../../src/config/directives.ts";

const docPath = fileURLToPath(new URL("../../docs/config.md", import.meta.url));

test("the directive reference in docs/config.md is the generator's output", () => {
  const doc = readFileSync(docPath, "utf8");
  // To refresh: write withReference(doc) back to docs/config.md.
  assert.equal(doc, withReference(doc));
});

test("the reference lists every directive of the table exactly once", () => {
  const reference = directiveReference();
  for (const d of DIRECTIVES) {
    // `server` is two directives: the mail block and an upstream's backend.
    const rows = reference.split("\n").filter((line) => line.startsWith(`| \`${d.name}\``));
    assert.equal(rows.length, DIRECTIVES.filter((x) => x.name === d.name).length, d.name);
  }
});
