/**
 * Values of the beyond-nginx abuse limits (docs/auth.md, "Login abuse protection"):
 * `limit_login zone=NAME [per_ip=N] [per_user=N] window=TIME [delay=TIME]`,
 * `limit_conn per_ip=N` and `limit_store redis://HOST[:PORT]`.
 */
import type { LimitConnSpec, LimitLoginSpec } from "../model.ts";
import { ValueError } from "../errors.ts";
import { formatTimeMs, parseNumber, parseTime } from "../units.ts";
import { checkHost, parsePort, splitHostPort } from "./address.ts";

const ZONE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/** `key=value` words → a map; a word without `=`, an unknown or repeated key is refused. */
function keyValues(directive: string, args: string[], allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const arg of args) {
    const eq = arg.indexOf("=");
    const key = eq < 0 ? arg : arg.slice(0, eq);
    if (eq < 0 || !allowed.includes(key) || out.has(key)) {
      throw new ValueError("invalid_value", `invalid parameter "${arg}" in "${directive}" directive`);
    }
    out.set(key, arg.slice(eq + 1));
  }
  return out;
}

function positive(directive: string, key: string, text: string): number {
  const n = parseNumber(text);
  if (n === null || n < 1) throw new ValueError("invalid_value", `invalid ${key} "${text}" in "${directive}" directive`);
  return n;
}

function duration(directive: string, key: string, text: string, allowZero: boolean): number {
  const ms = parseTime(text, "ms");
  if (ms === null || (!allowZero && ms === 0)) {
    throw new ValueError("invalid_value", `invalid ${key} "${text}" in "${directive}" directive`);
  }
  return ms;
}

/**
 * @example parseLimitLogin(["zone=login", "per_ip=10", "window=10m"])
 *   // { zone: "login", per_ip: 10, window: 600000, delay: 1000 }
 */
export function parseLimitLogin(args: string[]): LimitLoginSpec {
  const name = "limit_login";
  const kv = keyValues(name, args, ["zone", "per_ip", "per_user", "window", "delay"]);
  const zone = kv.get("zone");
  if (zone === undefined || !ZONE_NAME.test(zone)) {
    throw new ValueError("invalid_value", `"${name}" directive needs zone=NAME (letters, digits, "_", "-", ".")`);
  }
  const window = kv.get("window");
  if (window === undefined) throw new ValueError("invalid_value", `"${name}" directive needs window=TIME`);
  if (!kv.has("per_ip") && !kv.has("per_user")) {
    throw new ValueError("invalid_value", `"${name}" directive needs per_ip=N or per_user=N`);
  }
  const spec: LimitLoginSpec = {
    zone,
    window: duration(name, "window", window, false),
    delay: kv.has("delay") ? duration(name, "delay", kv.get("delay")!, true) : 1000,
  };
  if (kv.has("per_ip")) spec.per_ip = positive(name, "per_ip", kv.get("per_ip")!);
  if (kv.has("per_user")) spec.per_user = positive(name, "per_user", kv.get("per_user")!);
  return spec;
}

export function formatLimitLogin(spec: LimitLoginSpec): string[] {
  const args = [`zone=${spec.zone}`];
  if (spec.per_ip !== undefined) args.push(`per_ip=${spec.per_ip}`);
  if (spec.per_user !== undefined) args.push(`per_user=${spec.per_user}`);
  args.push(`window=${formatTimeMs(spec.window)}`, `delay=${formatTimeMs(spec.delay)}`);
  return args;
}

/** @example parseLimitConn(["per_ip=20"]) // { per_ip: 20 } */
export function parseLimitConn(args: string[]): LimitConnSpec {
  const kv = keyValues("limit_conn", args, ["per_ip"]);
  const perIp = kv.get("per_ip");
  if (perIp === undefined) throw new ValueError("invalid_value", `"limit_conn" directive needs per_ip=N`);
  return { per_ip: positive("limit_conn", "per_ip", perIp) };
}

export function formatLimitConn(spec: LimitConnSpec): string[] {
  return [`per_ip=${spec.per_ip}`];
}

/** Checks `redis://HOST[:PORT]` (port 6379 by default); returns the text unchanged. */
export function parseLimitStore(value: string): string {
  const fail = (reason: string) => new ValueError("invalid_value", `${reason} in limit_store "${value}"`);
  const m = /^(?:redis|valkey):\/\/([^/@]*)\/?$/i.exec(value);
  if (!m) throw fail("expected redis://host[:port]");
  const split = splitHostPort(m[1]!, false);
  if (typeof split === "string") throw fail(split);
  const bad = checkHost(split.host);
  if (bad) throw fail(bad);
  if (split.port !== "" && parsePort(split.port) === null) throw fail("invalid port");
  return value;
}

/** `redis://127.0.0.1:6380` → { host: "127.0.0.1", port: 6380 }. Call only on a checked value. */
export function limitStoreAddress(value: string): { host: string; port: number } {
  const authority = value.replace(/^[a-z]+:\/\//i, "").replace(/\/$/, "");
  const split = splitHostPort(authority, false);
  if (typeof split === "string") throw new Error(split);
  const host = split.host.startsWith("[") ? split.host.slice(1, -1) : split.host;
  return { host, port: split.port === "" ? 6379 : Number(split.port) };
}
