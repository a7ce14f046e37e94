/**
 * Values of the directives inside `upstream NAME { }` (beyond nginx's mail module;
 * the words follow nginx's http/stream upstream): `server`, `hash`, `sticky_store`,
 * `health_check`. docs/director.md describes them.
 */
import type { HashSpec, HealthCheckSpec, StickyStoreSpec, UpstreamServerSpec } from "../model.ts";
import { ValueError } from "../errors.ts";
import { formatTimeMs, parseNumber, parseTime } from "../units.ts";
import { checkHost, parsePort, splitHostPort } from "./address.ts";

/** An upstream's name: also what `proxy_pass` and `Auth-Server` say to mean it. */
export const UPSTREAM_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

const invalid = (arg: string, directive: string) =>
  new ValueError("invalid_value", `invalid parameter "${arg}" in "${directive}" directive`);

function count(arg: string, text: string, directive: string, min: number): number {
  const n = parseNumber(text);
  if (n === null || n < min) throw invalid(arg, directive);
  return n;
}

function time(arg: string, text: string, directive: string): number {
  const ms = parseTime(text, "ms");
  if (ms === null || ms === 0) throw invalid(arg, directive);
  return ms;
}

/**
 * nginx's defaults: weight=1 max_fails=1 fail_timeout=10s.
 * @example parseUpstreamServer(["10.0.0.11:143", "weight=2"]) // { host: "10.0.0.11", port: 143, weight: 2, ... }
 */
export function parseUpstreamServer(args: string[]): UpstreamServerSpec {
  const [address, ...params] = args as [string, ...string[]];
  const fail = (reason: string) => new ValueError("invalid_value", `${reason} in upstream "${address}"`);
  const split = splitHostPort(address, false);
  if (typeof split === "string") throw fail(split);
  const bad = checkHost(split.host);
  if (bad) throw fail(bad);
  if (split.port === "") throw fail("no port");
  const port = parsePort(split.port);
  if (port === null) throw fail("invalid port");
  const host = split.host.startsWith("[") ? split.host.slice(1, -1) : split.host;
  const spec: UpstreamServerSpec = { address, host, port, weight: 1, max_fails: 1, fail_timeout: 10_000, backup: false, down: false };
  for (const arg of params) {
    const [key, value] = arg.includes("=") ? [arg.slice(0, arg.indexOf("=")), arg.slice(arg.indexOf("=") + 1)] : [arg, undefined];
    if (key === "weight" && value !== undefined) spec.weight = count(arg, value, "server", 1);
    else if (key === "max_fails" && value !== undefined) spec.max_fails = count(arg, value, "server", 0);
    else if (key === "fail_timeout" && value !== undefined) spec.fail_timeout = time(arg, value, "server");
    else if (arg === "backup") spec.backup = true;
    else if (arg === "down") spec.down = true;
    else throw invalid(arg, "server");
  }
  if (spec.backup && spec.down) throw invalid("down", "server");
  return spec;
}

export function formatUpstreamServer(spec: UpstreamServerSpec): string[] {
  const args = [spec.address];
  if (spec.weight !== 1) args.push(`weight=${spec.weight}`);
  if (spec.max_fails !== 1) args.push(`max_fails=${spec.max_fails}`);
  if (spec.fail_timeout !== 10_000) args.push(`fail_timeout=${formatTimeMs(spec.fail_timeout)}`);
  if (spec.backup) args.push("backup");
  if (spec.down) args.push("down");
  return args;
}

/** The variables `hash` may use. */
const HASH_KEYS = ["$login", "$remote_addr", "$protocol"];

/** `hash $login consistent`. */
export function parseHash(args: string[]): HashSpec {
  const [key, flag] = args as [string, string?];
  if (!HASH_KEYS.includes(key)) {
    throw new ValueError("invalid_value", `invalid key "${key}" in "hash" directive, it must be one of ${HASH_KEYS.join(", ")}`);
  }
  if (flag !== undefined && flag !== "consistent") throw invalid(flag, "hash");
  return { key, consistent: flag !== undefined };
}

export function formatHash(spec: HashSpec): string[] {
  return spec.consistent ? [spec.key, "consistent"] : [spec.key];
}

/** `redis://HOST[:PORT][/DB] [ttl=TIME]`; the ttl defaults to 1h. */
export function parseStickyStore(args: string[]): StickyStoreSpec {
  const [url, ...params] = args as [string, ...string[]];
  const fail = (reason: string) => new ValueError("invalid_value", `${reason} in sticky_store "${url}"`);
  const m = /^(?:redis|valkey):\/\/([^/@]+)(?:\/(\d{1,2})?)?$/i.exec(url);
  if (!m) throw fail("expected redis://host[:port][/db]");
  const split = splitHostPort(m[1]!, false);
  if (typeof split === "string") throw fail(split);
  const bad = checkHost(split.host);
  if (bad) throw fail(bad);
  const port = split.port === "" ? 6379 : parsePort(split.port);
  if (port === null) throw fail("invalid port");
  const host = split.host.startsWith("[") ? split.host.slice(1, -1) : split.host;
  let ttl = 3_600_000;
  for (const arg of params) {
    if (!arg.startsWith("ttl=")) throw invalid(arg, "sticky_store");
    ttl = time(arg, arg.slice(4), "sticky_store");
  }
  return { url, host, port, db: Number(m[2] ?? 0), ttl };
}

export function formatStickyStore(spec: StickyStoreSpec): string[] {
  return [spec.url, `ttl=${formatTimeMs(spec.ttl)}`];
}

/** nginx's health_check defaults: interval=5s fails=1 passes=1. */
export function parseHealthCheck(args: string[]): HealthCheckSpec {
  const spec: HealthCheckSpec = { interval: 5000, fails: 1, passes: 1, greeting: false, starttls: false };
  for (const arg of args) {
    if (arg.startsWith("interval=")) spec.interval = time(arg, arg.slice(9), "health_check");
    else if (arg.startsWith("fails=")) spec.fails = count(arg, arg.slice(6), "health_check", 1);
    else if (arg.startsWith("passes=")) spec.passes = count(arg, arg.slice(7), "health_check", 1);
    else if (arg === "greeting") spec.greeting = true;
    else if (arg === "starttls") spec.starttls = true;
    else throw invalid(arg, "health_check");
  }
  // STARTTLS is offered after the greeting: reading it is implied.
  if (spec.starttls) spec.greeting = true;
  return spec;
}

export function formatHealthCheck(spec: HealthCheckSpec): string[] {
  const args = [`interval=${formatTimeMs(spec.interval)}`, `fails=${spec.fails}`, `passes=${spec.passes}`];
  if (spec.greeting) args.push("greeting");
  if (spec.starttls) args.push("starttls");
  return args;
}
