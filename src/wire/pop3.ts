/** POP3 command lines toward a backend: arguments are raw, so none may hold CR, LF or NUL. */
import { commandLine, lineSafe, type Wire } from "./wire.ts";

/**
 * @example pop3Command("USER", "alice") // "USER alice\r\n"
 */
export function pop3Command(verb: "USER" | "PASS" | "AUTH" | "STLS", ...args: string[]): Wire<"pop3"> {
  const checked = args.map((arg) => lineSafe(arg, verb === "PASS" ? "the password" : `the ${verb} argument`, "pop3"));
  return commandLine("pop3", [verb, ...checked].join(" "));
}
