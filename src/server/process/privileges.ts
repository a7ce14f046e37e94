/**
 * `user USER [GROUP]` (nginx's `nobody` without it) and `worker_rlimit_nofile N` as
 * far as node: APIs reach: switching user and group after the listeners are bound, and reading back the
 * open files limit (node has no setrlimit; the master raises it with `ulimit`
 * before a worker starts, see master.ts).
 */
import fs from "node:fs";
import type { Config } from "../../config/model.ts";
import type { Logger } from "../../log/logger.ts";
import { runtimeVersion } from "../../runtime.ts";

type Ids = typeof process & {
  setuid?: (id: string | number) => void;
  setgid?: (id: string | number) => void;
  initgroups?: (user: string | number, group: string | number) => void;
  getuid?: () => number;
};

/** nginx's NGX_USER: the user its workers run as when started as root without `user`. */
const DEFAULT_USER = "nobody";

/**
 * nginx's NGX_GROUP, which its configure script picks on the build host: "nobody"
 * where such a group exists, else "nogroup" (Debian, Ubuntu).
 */
function defaultGroup(): string {
  return databaseId("/etc/group", "nobody", 2) !== undefined ? "nobody" : "nogroup";
}

/** Whom a process started as root becomes, by name and id. */
interface Identity {
  user: string;
  group: string;
  uid: number;
  gid: number;
}

/**
 * The identity for `user USER [GROUP]` (GROUP defaults to the group named like
 * USER, as nginx looks it up), or nginx's `nobody` and its group without the
 * directive; an error message in nginx's words when a name is unknown; undefined
 * when not running as root, as nginx ("the "user" directive makes sense only if
 * the master process runs with super-user privileges").
 */
export function identity(configured: { user: string; group?: string } | undefined): Identity | { error: string } | undefined {
  if ((process as Ids).getuid?.() !== 0) return undefined;
  const user = configured?.user ?? DEFAULT_USER;
  const group = configured ? configured.group ?? configured.user : defaultGroup();
  const uid = databaseId("/etc/passwd", user, 2);
  if (uid === undefined) return { error: `getpwnam("${user}") failed` };
  const gid = databaseId("/etc/group", group, 2);
  if (gid === undefined) return { error: `getgrnam("${group}") failed` };
  return { user, group, uid, gid };
}

/** Become `identity(configured)` for good. Returns an error message to log, or undefined once done (or when not root). */
export function dropPrivileges(configured: { user: string; group?: string } | undefined): string | undefined {
  const id = identity(configured);
  if (!id) return undefined;
  if ("error" in id) return id.error;
  const p = process as Ids;
  if (typeof p.setuid !== "function" || typeof p.setgid !== "function") {
    return `"user ${id.user}" cannot be applied: process.setuid/setgid are not available on ${runtimeVersion()}`;
  }
  try {
    p.setgid(id.gid);
    // Supplementary groups of root must not survive; Deno has no initgroups and keeps them (README).
    if (typeof p.initgroups === "function") p.initgroups(id.user, id.gid);
    p.setuid(id.uid);
  } catch (err) {
    return `cannot switch to user "${id.user}" group "${id.group}": ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * The id of `name` in /etc/passwd or /etc/group (field `field`), as getpwnam and
 * getgrnam find it in files; a number stands for itself.
 */
function databaseId(file: string, name: string, field: number): number | undefined {
  if (/^\d+$/.test(name)) return Number(name);
  try {
    for (const line of fs.readFileSync(file, "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === name && /^\d+$/.test(f[field] ?? "")) return Number(f[field]);
    }
  } catch {
    // no such file: nobody is known
  }
  return undefined;
}

/** This process's soft limit on open files (Linux /proc), or undefined where unknown. */
export function openFilesLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(fs.readFileSync("/proc/self/limits", "utf8"));
    if (!m) return undefined;
    return m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/** worker_rlimit_nofile is raised by the master before exec; say so when that did not work. */
export function warnIfFewFiles(config: Config, logger: Logger): void {
  const wanted = config.worker_rlimit_nofile;
  if (wanted === undefined) return;
  const limit = openFilesLimit();
  if (limit !== undefined && limit < wanted) {
    logger.warn(`worker_rlimit_nofile ${wanted} could not be set, the open files limit is ${limit}`);
  }
}
