/**
 * The `syslog:server=ADDR[:PORT][,facility=F][,severity=S][,tag=T][,nohostname]` log
 * target of `error_log` and `access_log`, as nginx's ngx_syslog_parse_args reads it.
 * The sender is log/syslog.ts.
 */
import { LOG_LEVELS, type LogLevel } from "../model.ts";

export interface SyslogTarget {
  server: { host: string; port: number } | { unix: string };
  /** RFC 3164 facility number; local7 (23) by default. */
  facility: number;
  /** The severity of access_log lines (info when absent); ignored by error_log, as nginx ignores it. */
  severity?: LogLevel;
  tag: string;
  hostname: boolean;
}

const PREFIX = "syslog:";
const FACILITIES = [
  "kern", "user", "mail", "daemon", "auth", "intern", "lpr", "news", "uucp", "clock", "authpriv", "ftp", "ntp",
  "audit", "alert", "cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
];

export function isSyslogTarget(path: string): boolean {
  return path.startsWith(PREFIX);
}

/** Parse `syslog:...` (nginx's ngx_syslog_parse_args); a message in nginx's words when it is wrong. */
export function parseSyslogTarget(spec: string): SyslogTarget | { error: string } {
  const target: Partial<SyslogTarget> = { facility: 23, tag: "nginx", hostname: true };
  const seen = new Set<string>();
  const rest = spec.slice(PREFIX.length);
  for (const part of rest === "" ? [] : rest.split(",")) {
    const eq = part.indexOf("=");
    const key = eq < 0 ? part : part.slice(0, eq);
    const value = part.slice(eq + 1);
    if (eq < 0 ? key !== "nohostname" : !["server", "facility", "severity", "tag"].includes(key)) {
      return { error: `unknown syslog parameter "${part}"` };
    }
    if (seen.has(key) && key !== "nohostname") return { error: `duplicate syslog "${key}"` };
    seen.add(key);
    if (key === "server") {
      const server = parseServer(value);
      if ("error" in server) return server;
      target.server = server;
    } else if (key === "facility") {
      const n = FACILITIES.indexOf(value);
      if (n < 0) return { error: `unknown syslog facility "${value}"` };
      target.facility = n;
    } else if (key === "severity") {
      if (!(LOG_LEVELS as readonly string[]).includes(value)) return { error: `unknown syslog severity "${value}"` };
      target.severity = value as LogLevel;
    } else if (key === "tag") {
      if (value.length > 32) return { error: "syslog tag length exceeds 32" };
      if (!/^\w*$/.test(value)) return { error: 'syslog "tag" only allows alphanumeric characters and underscore' };
      target.tag = value;
    } else target.hostname = false;
  }
  if (!target.server) return { error: "no syslog server specified" };
  return target as SyslogTarget;
}

/** `unix:PATH`, `HOST`, `HOST:PORT` or `[IPV6]:PORT` (nginx's ngx_parse_url, default port 514). */
function parseServer(value: string): SyslogTarget["server"] | { error: string } {
  if (value.startsWith("unix:")) return { unix: value.slice(5) };
  const m = /^(?:\[([^\]]*)\]|([^:]*))(?::(.*))?$/.exec(value);
  const host = m?.[1] ?? m?.[2];
  if (!host) return { error: `no host in syslog server "${value}"` };
  const port = m![3] === undefined ? 514 : /^\d{1,5}$/.test(m![3]) ? Number(m![3]) : 0;
  if (port < 1 || port > 65535) return { error: `invalid port in syslog server "${value}"` };
  return { host, port };
}
