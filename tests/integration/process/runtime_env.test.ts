/**
 * The serving process starts itself again (execve, the same pid) with what its runtime
 * must be told at start: on Bun, JavaScriptCore's FTL tier off unless the environment
 * says otherwise (src/runtime.ts, servingEnvironment). Its workers inherit it.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { RUNTIME } from "../../../src/runtime.ts";
import { freePort } from "../../support/ports.ts";
import { startChildProxy } from "../../support/child_proxy.ts";

function environOf(pid: number): Map<string, string> {
  const pairs = fs.readFileSync(`/proc/${pid}/environ`, "latin1").split("\0").filter(Boolean);
  return new Map(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
}

function childrenOf(pid: number): number[] {
  const file = `/proc/${pid}/task/${pid}/children`;
  return fs.existsSync(file) ? fs.readFileSync(file, "latin1").trim().split(/\s+/).filter(Boolean).map(Number) : [];
}

async function servingEnv(env: Record<string, string>): Promise<Array<string | undefined>> {
  const port = await freePort();
  const proxy = await startChildProxy(
    `daemon off; pid %PID%; error_log %LOG% info;
mail { auth_http 127.0.0.1:1; server { listen 127.0.0.1:${port}; protocol imap; } }`,
    port,
    [],
    undefined,
    env,
  );
  try {
    const pid = proxy.child.pid!;
    assert.equal(fs.readFileSync(proxy.pidFile, "latin1").trim(), String(pid), "the process spawned is the one serving: same pid");
    return [pid, ...childrenOf(pid)].map((p) => environOf(p).get("BUN_JSC_useFTLJIT"));
  } finally {
    await proxy.cleanup();
  }
}

describe("the serving process's runtime environment", () => {
  test(`on ${RUNTIME}: the FTL tier is ${RUNTIME === "Bun" ? "off" : "not asked about"} in the serving process and its workers`, async () => {
    const seen = await servingEnv({});
    const expected = RUNTIME === "Bun" ? "0" : undefined;
    for (const value of seen) assert.equal(value, expected);
  });

  test("an environment that sets the option itself keeps its own value", async () => {
    const seen = await servingEnv({ BUN_JSC_useFTLJIT: "1" });
    for (const value of seen) assert.equal(value, "1");
  });
});
