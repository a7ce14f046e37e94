/**
 * What `-t` checks against this host beyond the file itself, as nginx's `-t` does: the
 * `user` and its group exist, auth_file tables load, host names in auth_http, resolver,
 * set_real_ip_from and listen resolve, and listen addresses can be bound (one already in use is fine: the
 * running instance holds it). Messages are nginx's, with the directive's place.
 */
import fs from "node:fs";
import net from "node:net";
import { lookupAll } from "../resolve.ts";
import { ConfigError, formatAt, type Loc } from "../config/errors.ts";
import type { Config, ListenSpec } from "../config/model.ts";
import type { Places } from "../config/places.ts";
import { splitHostPort } from "../config/values/address.ts";
import { parseCidr } from "../config/values/cidr.ts";
import { errnoText } from "../errno.ts";
import { loadUserTable } from "../auth/user_table.ts";
import { RUNTIME, runtimeNamespace } from "../runtime.ts";

/** The host facilities checked, replaceable in tests (which must not send DNS queries). */
export interface HostFacilities {
  /** Whether a host name resolves (IP literals never reach this). */
  resolves(host: string): Promise<boolean>;
  /** Binds and closes `host:port`; the error code on failure (EADDRINUSE counts as success). */
  bind(host: string, port: number): Promise<string | undefined>;
  /** Whether a user, or a group, of that name exists. */
  hasUser(name: string): boolean;
  hasGroup(name: string): boolean;
  isRoot(): boolean;
}

/** Names in the first field of a colon-separated database such as /etc/passwd. */
function namesIn(file: string): Set<string> {
  try {
    return new Set(fs.readFileSync(file, "utf8").split("\n").map((line) => line.split(":")[0]!));
  } catch {
    return new Set();
  }
}

export const SYSTEM: HostFacilities = {
  resolves: (host) => lookupAll(host).then((found) => found.length > 0, () => false),
  bind: async (host, port) => {
    const code = await bindError(host, port);
    return code === "EADDRINUSE" ? undefined : code;
  },
  hasUser: (name) => namesIn("/etc/passwd").has(name),
  hasGroup: (name) => namesIn("/etc/group").has(name),
  isRoot: () => process.getuid?.() === 0,
};

type DenoListen = { listen(o: { hostname: string; port: number }): { close(): void } };

/**
 * The errno code of binding `host:port`, undefined when it binds. Deno's node:net reports
 * every bind failure as EINVAL; its own Deno.listen keeps the real code.
 */
function bindError(host: string, port: number): Promise<string | undefined> {
  if (RUNTIME === "Deno") {
    const deno = runtimeNamespace<DenoListen>();
    try {
      deno.listen({ hostname: host, port }).close();
      return Promise.resolve(undefined);
    } catch (err) {
      return Promise.resolve((err as { code?: string }).code ?? "EINVAL");
    }
  }
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", (err: NodeJS.ErrnoException) => resolve(err.code ?? "EINVAL"));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

const isIp = (host: string) => net.isIP(host.replace(/^\[(.*)\]$/, "$1")) !== 0;

/**
 * Checks the loaded configuration against this host; returns warnings, throws the first
 * ConfigError in file order of kinds (user, names, then binds), as nginx stops at the first.
 */
export async function checkHost(config: Config, places: Places, host: HostFacilities = SYSTEM): Promise<string[]> {
  const warnings: string[] = [];
  const fail = (reason: string, at: Loc): never => {
    throw new ConfigError("host", reason, at);
  };

  for (const { args, at } of places.of(config, "user")) {
    if (!host.isRoot()) {
      warnings.push(formatAt('the "user" directive makes sense only if the master process runs with super-user privileges, ignored', at));
      continue;
    }
    const [user, group = user] = args as [string, string?];
    if (!host.hasUser(user)) fail(`getpwnam("${user}") failed`, at);
    if (!host.hasGroup(group)) fail(`getgrnam("${group}") failed`, at);
  }

  const mail = config.mail;
  if (!mail) return warnings;
  const levels = [mail.settings, ...mail.servers.map((s) => s.settings)];
  const names: Array<{ host: string; message: string; at: Loc }> = [];
  for (const level of levels) {
    for (const { args, at } of places.of(level, "auth_http")) {
      for (const url of args) {
        const text = url.replace(/^http:\/\//, "");
        if (text.startsWith("unix:")) continue;
        const split = splitHostPort(text.split("/")[0]!, false);
        if (typeof split !== "string") names.push({ host: split.host, message: `host not found in auth_http "${text}"`, at });
      }
    }
    for (const { args, at } of places.of(level, "resolver")) {
      for (const arg of args.filter((a) => a !== "off" && !a.includes("="))) {
        const split = splitHostPort(arg, false);
        if (typeof split !== "string") names.push({ host: split.host, message: `host not found in resolver "${arg}"`, at });
      }
    }
    for (const { args, at } of places.of(level, "set_real_ip_from")) {
      const entry = args[0]!;
      if (entry !== "unix:" && !parseCidr(entry)) names.push({ host: entry, message: `host not found in set_real_ip_from "${entry}"`, at });
    }
  }
  for (const level of levels) {
    for (const { args, at } of places.of(level, "auth_file")) {
      try {
        loadUserTable(args[0]!);
      } catch (err) {
        fail(`"auth_file" directive ${(err as Error).message}`, at);
      }
    }
  }
  const listens = mail.servers.flatMap((s) => s.listen).filter((l) => l.kind === "tcp");
  for (const l of listens) {
    if (l.host !== "*" && !isIp(l.host)) names.push({ host: l.host, message: `host not found in "${l.address}" of the "listen" directive`, at: l.source });
  }
  for (const name of names) {
    if (!isIp(name.host) && !(await host.resolves(name.host))) fail(name.message, name.at);
  }

  for (const l of listens.filter((l) => l.host === "*" || isIp(l.host))) {
    const code = await host.bind(bindHost(l), l.port);
    if (code) fail(`bind() to ${bindText(l)} failed (${errnoText(code) ?? code})`, l.source);
  }
  return warnings;
}

function bindHost(l: ListenSpec): string {
  return l.host === "*" ? "0.0.0.0" : l.host.replace(/^\[(.*)\]$/, "$1");
}

/** `10.0.0.1:143`, `[::1]:143`, `0.0.0.0:143` as nginx names the address. */
function bindText(l: ListenSpec): string {
  const h = bindHost(l);
  return net.isIPv6(h) ? `[${h}]:${l.port}` : `${h}:${l.port}`;
}
