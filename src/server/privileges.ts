/**
 * `user USER [GROUP]` and `worker_rlimit_nofile N` as far as node: APIs reach:
 * switching user and group after the listeners are bound, and reading back the
 * open files limit (node has no setrlimit; the master raises it with `ulimit`
 * before a worker starts, see master.ts).
 */
import fs from "node:fs";
import { runtimeName } from "../version.ts";

type Ids = typeof process & {
  setuid?: (id: string | number) => void;
  setgid?: (id: string | number) => void;
  initgroups?: (user: string | number, group: string | number) => void;
  getuid?: () => number;
};

/**
 * Become `user` (and `group`, else the user's own group) for good. Returns an
 * error message to log, or undefined once done. Not root: nothing to drop, as
 * nginx does ("the "user" directive makes sense only if the master process runs
 * with super-user privileges").
 */
export function dropPrivileges(target: { user: string; group?: string }): string | undefined {
  const p = process as Ids;
  if (typeof p.setuid !== "function" || typeof p.setgid !== "function") {
    return `"user ${target.user}" cannot be applied: process.setuid/setgid are not available on ${runtimeName()}`;
  }
  if (p.getuid?.() !== 0) return undefined;
  const group = target.group ?? primaryGroupOf(target.user);
  if (group === undefined) return `getpwnam("${target.user}") failed`;
  try {
    p.setgid(/^\d+$/.test(group) ? Number(group) : group);
    // Supplementary groups of root must not survive; Deno has no initgroups and keeps them (README).
    if (typeof p.initgroups === "function") p.initgroups(target.user, /^\d+$/.test(group) ? Number(group) : group);
    p.setuid(/^\d+$/.test(target.user) ? Number(target.user) : target.user);
  } catch (err) {
    return `cannot switch to user "${target.user}" group "${group}": ${(err as Error).message}`;
  }
  return undefined;
}

/** The group a user name belongs to by /etc/passwd, as a gid string. */
function primaryGroupOf(user: string): string | undefined {
  if (/^\d+$/.test(user)) return user;
  try {
    for (const line of fs.readFileSync("/etc/passwd", "utf8").split("\n")) {
      const f = line.split(":");
      if (f[0] === user && f[3] !== undefined) return f[3];
    }
  } catch {
    // no /etc/passwd: let setuid name the problem
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
