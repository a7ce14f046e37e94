/**
 * The layers of src/, bottom first: a module imports from its own layer or those
 * below, so that each layer can be read, tested and changed without the ones above
 * (docs/architecture.md). The few imports that run upward are listed with why; the
 * issue's bar is at most one.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import path from "node:path";
import { importGraph } from "../support/import_graph.ts";
import { REPO_ROOT } from "../support/repo.ts";

/** Top-level entries of src/ (folders, or files at its root), bottom layer first. */
export const LAYERS: readonly (readonly string[])[] = [
  ["errno.ts", "version.ts", "runtime.ts", "resolve.ts"],
  ["wire"],
  ["config"],
  ["log"],
  ["protocols"],
  ["tls", "net"],
  ["auth"],
  ["upstream", "relay"],
  ["metrics"],
  ["server"],
  ["cli"],
  ["main.ts"],
];

/** Upward imports that stay, each with its reason. */
const ALLOWED_UPWARD: Record<string, string> = {
  "src/config/directives.ts -> src/protocols/mechanisms.ts":
    "the one mechanism table decides what the *_auth directives accept, as it decides what the machines advertise",
};

function layerOf(file: string): number {
  const top = file.split(path.sep)[1]!;
  const layer = LAYERS.findIndex((names) => names.includes(top));
  assert.notEqual(layer, -1, `${top} (of ${file}) is in no layer: add it to LAYERS`);
  return layer;
}

describe("the layers of src/", () => {
  test("no import runs upward, except the listed ones", () => {
    const upward = importGraph(REPO_ROOT, "src")
      .filter((e) => layerOf(e.to) > layerOf(e.from))
      .map((e) => `${e.from} -> ${e.to}`);
    assert.deepEqual([...new Set(upward)].sort(), Object.keys(ALLOWED_UPWARD).sort());
  });

  test("at most one upward import is allowed", () => {
    assert.ok(Object.keys(ALLOWED_UPWARD).length <= 1);
  });
});
