/** The repository's root directory, for tests that read its files or run its commands. */
import path from "node:path";

export const REPO_ROOT = path.resolve(import.meta.dirname ?? path.dirname(new URL(import.meta.url).pathname), "../..");
