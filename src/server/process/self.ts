/**
 * How to start this program again (daemon mode, workers): inside a compiled
 * binary the executable is the program; otherwise the runtime plus the script.
 */
import { RUNTIME } from "../../runtime.ts";

export function selfCommand(): string[] {
  const script = process.argv[1] ?? "";
  const compiled = script.startsWith("/$bunfs/") || script.startsWith("B:/~BUN/") ||
    RUNTIME === "Deno" && !/\.(ts|js|mjs)$/.test(script);
  if (compiled) return [process.execPath];
  const runtimeArgs = RUNTIME === "Deno" ? ["run", "-A"] : [];
  return [process.execPath, ...runtimeArgs, script];
}
