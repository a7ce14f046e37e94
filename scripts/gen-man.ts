/**
 * Writes mailproxy(8) in roff to stdout, from the same sources the program uses:
 * nginx's flags (NGINX_USAGE), the subcommands, and the directive table, so the man
 * page cannot drift from the code. Used by `make dist` (scripts/package/Makefile.inc).
 *
 *   node_modules/.bin/bun scripts/gen-man.ts > dist/mailproxy.8
 */
import { DIRECTIVES, type Directive } from "../src/config/directives.ts";
import { NGINX_USAGE } from "../src/cli/nginx_flags.ts";
import { VERSION } from "../src/version.ts";

const MODULE_TITLE: Record<string, string> = {
  main: "Top level and events",
  core: "Core",
  auth_http: "Authentication service",
  proxy: "Proxy",
  realip: "Real client address",
  ssl: "TLS",
  imap: "IMAP",
  pop3: "POP3",
  smtp: "SMTP",
  upstream: "Backend pools (upstream)",
};

const CONTEXT_NAME: Record<string, string> = { main: "top level", events: "events", mail: "mail", server: "server", upstream: "upstream" };

const SUBCOMMANDS: [string, string][] = [
  ["serve [-c FILE] [--listen ADDR]... [--protocol P] [--auth-http URL] [--upstream HOST:PORT] [--server-name NAME] [--ssl-certificate PEM] [--ssl-certificate-key PEM] [--starttls on|only|off] [--log-level LEVEL]", "Run the proxy from a config file, ad-hoc flags, or both (the flags' server joins the file's mail block)."],
  ["check [-c FILE] [-q]", "Test the configuration, like -t."],
  ["config -c FILE --to toml|nginx", "Print the configuration converted to the other format."],
  ["version", "Print version, runtime and build options."],
];

/** Text safe in roff: backslashes, hyphens that are minus signs, markdown code ticks, non-ASCII, leading dots. */
export function roff(text: string): string {
  const escaped = text
    .replace(/\\/g, "\\e")
    .replace(/-/g, "\\-")
    .replace(/`([^`]*)`/g, "\\fB$1\\fR")
    .replace(/✱/g, "*")
    // Other non-ASCII (→, —, ≤ ...) as groff's \[uXXXX], which every man renderer reads.
    .replace(/[^\x00-\x7f]/gu, (c) => `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, "0")}]`);
  return escaped.replace(/^([.'])/gm, "\\&$1");
}

function directiveEntry(d: Directive): string[] {
  const syntax = d.kind === "block" ? d.syntax : `${d.syntax};`;
  const facts = [
    `Default: ${d.defaultText === "—" ? "none" : d.defaultText}.`,
    `Context: ${d.contexts.map((c) => CONTEXT_NAME[c]).join(", ")}.`,
  ];
  if (d.extension) facts.push("A mailproxy extension (not in nginx).");
  if (d.since) facts.push(`nginx ${d.since}.`);
  return [".TP", `.B ${roff(syntax)}`, roff(d.doc), ".br", roff(facts.join(" "))];
}

/** Option lines of NGINX_USAGE ("  -t            : test ...") as roff tagged paragraphs. */
function optionEntries(): string[] {
  const out: string[] = [];
  for (const line of NGINX_USAGE.split("\n")) {
    const m = /^\s+(-\S+(?: \S+)?)\s+: (.*)$/.exec(line);
    if (m) out.push(".TP", `.B ${roff(m[1])}`, roff(m[2]));
  }
  return out;
}

export function manPage(): string {
  const out: string[] = [
    `.TH MAILPROXY 8 "" "mailproxy ${VERSION}" "System Administration"`,
    ".SH NAME",
    "mailproxy \\- IMAP, POP3 and SMTP proxy, a drop\\-in for nginx's mail proxy",
    ".SH SYNOPSIS",
    ".B mailproxy",
    "[\\-?hvVtTq] [\\-s \\fIsignal\\fR] [\\-p \\fIprefix\\fR] [\\-e \\fIfilename\\fR] [\\-c \\fIfilename\\fR] [\\-g \\fIdirectives\\fR]",
    ".br",
    ".B mailproxy",
    "serve|check|config|version [\\fIoptions\\fR]",
    ".SH DESCRIPTION",
    "mailproxy accepts IMAP, POP3 and SMTP clients, authenticates them through an HTTP auth",
    "service (nginx's auth_http protocol) or passes them to a fixed backend, and relays the",
    "session. It reads nginx's mail configuration syntax or an equivalent TOML file.",
    ".SH OPTIONS",
    ...optionEntries(),
    ".SH COMMANDS",
    ...SUBCOMMANDS.flatMap(([syntax, doc]) => [".TP", `.B ${roff(syntax)}`, roff(doc)]),
    ".SH SIGNALS",
    ".TP", ".B HUP", "Re\\-read the configuration, start new workers with it, let old workers finish their sessions. A bad configuration is refused and the old one keeps serving.",
    ".TP", ".B QUIT", "Graceful stop, bounded by worker_shutdown_timeout.",
    ".TP", ".B TERM, INT", "Fast stop.",
    ".TP", ".B USR1", "Reopen log files.",
    ".SH DIRECTIVES",
  ];
  for (const module of [...new Set(DIRECTIVES.map((d) => d.module))]) {
    out.push(`.SS ${roff(MODULE_TITLE[module] ?? module)}`);
    for (const d of DIRECTIVES.filter((x) => x.module === module)) out.push(...directiveEntry(d));
  }
  out.push(
    ".SH FILES",
    ".TP", ".I /etc/mailproxy/mailproxy.conf", "The default configuration file.",
    ".TP", ".I /run/mailproxy.pid", "The master's process id (the pid directive of the packaged configuration).",
    ".SH SEE ALSO",
    ".BR nginx (8),",
    ".BR systemctl (1)",
    "",
  );
  return out.join("\n");
}

if (import.meta.main) process.stdout.write(manPage());
