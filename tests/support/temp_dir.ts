import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const made: string[] = [];
function removeAll(): void {
  for (const dir of made.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}
// At exit rather than in each test's teardown, so that a failed test leaves nothing in /tmp either.
// Bun's runner emits process "exit"; Deno's test runner does not, but fires "unload".
process.on("exit", removeAll);
(globalThis as { addEventListener?: (type: string, listener: () => void) => void }).addEventListener?.("unload", removeAll);

/** A new directory under the system's temp dir, removed when the test process exits. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  return dir;
}
