/**
 * No import circle anywhere in src/. Type-only imports count too: they are erased at
 * runtime, so a circle of them cannot break module loading, but two modules that need
 * each other's types still cannot be read, tested or moved apart, which is what the
 * rule is for (issue 14).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { circles, importGraph, importsOf } from "../support/import_graph.ts";
import { REPO_ROOT } from "../support/repo.ts";


describe("the import graph of src/", () => {
  test("no module imports itself through a chain of imports", () => {
    const found = circles(importGraph(REPO_ROOT, "src"));
    assert.deepEqual(found.map((c) => `${c.circle.join(" → ")} (group: ${c.members.join(", ")})`), []);
  });

  test("imports are read from every form: type, re-export, multi-line, side effect, dynamic", () => {
    const text = [
      'import fs from "node:fs";',
      'import type { A } from "./a.ts";',
      'import { b, type B } from "../b.ts";',
      "import {\n  c,\n  d,\n} from './c.ts';",
      'export { e } from "./e.ts";',
      'export type { F } from "./f.ts";',
      'import "./g.ts";',
      'const h = await import("./h.ts");',
      ' * import { notCode } from "./comment.ts";',
    ].join("\n");
    assert.deepEqual(importsOf(text).sort(), ["../b.ts", "./a.ts", "./c.ts", "./e.ts", "./f.ts", "./g.ts", "./h.ts"]);
  });

  test("a circle is found with every module of its group, and a chain without one is not", () => {
    const edge = (from: string, to: string) => ({ from, to });
    assert.deepEqual(circles([edge("a", "b"), edge("b", "c"), edge("c", "a"), edge("c", "d"), edge("b", "a")]), [
      { members: ["a", "b", "c"], circle: ["a", "b", "a"] },
    ]);
    assert.deepEqual(circles([edge("a", "b"), edge("b", "c"), edge("a", "c")]), []);
    assert.deepEqual(circles([edge("a", "a")]), [{ members: ["a"], circle: ["a", "a"] }]);
  });
});
