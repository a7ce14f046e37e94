/**
 * The command line: citty subcommands (serve, check, config, version) and, with
 * no subcommand, nginx's own flags so `mailproxy -c FILE` runs like `nginx -c FILE`.
 */
import path from "node:path";
import tls from "node:tls";
import { type ArgsDef, type CommandDef, defineCommand, renderUsage, runMain } from "citty";
import type { Config } from "../config/model.ts";
import { type ConfigFile, dumpFiles, effectiveServers, loadConfig, type LoadResult } from "../config/load.ts";
import { checkHost, type HostFacilities } from "./host_check.ts";
import { toNginx } from "../config/write_nginx.ts";
import { resolvePath } from "../config/paths.ts";
import { toToml } from "../config/write_toml.ts";
import { checkUpstreamTlsConfig } from "../upstream/tls_out.ts";
import { buildServerTls, checkTlsConfig, serverUsesTls, tlsConfigError, tlsConfigWarnings } from "../tls/context.ts";
import { formatWarning } from "../config/errors.ts";
import { NGINX_USAGE, parseNginxFlags } from "./nginx_flags.ts";
import { type AdhocFlags, hasServerFlags, loadFileAndFlags } from "../config/adhoc.ts";
import { openFilesLimit } from "../server/process/privileges.ts";
import { VERSION } from "../version.ts";
import { runtimeVersion, tlsRuntime } from "../runtime.ts";
import { runProxy } from "../server/process/run.ts";
import { signalRunning } from "../server/process/lifecycle.ts";
import { runWorker, WORKER_SUBCOMMAND } from "../server/process/worker.ts";

const DEFAULT_CONFIG = "/etc/mailproxy/mailproxy.conf";
const SUBCOMMANDS = new Set(["serve", "check", "config", "version", "--help", "help"]);

function say(line: string): void {
  process.stderr.write(`mailproxy: ${line}\n`);
}

interface LoadOptions {
  file?: string;
  prefix?: string;
  globalDirectives?: string;
  adhoc?: AdhocFlags;
}

/** Load the config from a file, flags, or both, with its warnings; throws ConfigError. */
export function loadWithWarnings(o: LoadOptions): LoadResult {
  const flags = o.adhoc ?? { listen: [] };
  // Flags that make a server need no file; otherwise the default file is read.
  const file = o.file ?? (hasServerFlags(flags) ? undefined : DEFAULT_CONFIG);
  return loadFileAndFlags({ file, prefix: o.prefix, globalDirectives: o.globalDirectives, flags, openFiles: openFilesLimit() });
}

/** Load the config from a file, flags, or both; throws ConfigError. */
function loadFromOptions(o: LoadOptions): Config {
  return loadWithWarnings(o).config;
}

/** Load for serving; warnings go to stderr as nginx prints them at start. */
function loadAndWarn(o: LoadOptions): Config {
  const { config, warnings } = loadWithWarnings(o);
  for (const w of warnings) say(`[warn] ${formatWarning(w)}`);
  return config;
}

/**
 * Everything short of binding: parse, validate, load certificates and keys.
 * Returns the config and the warning lines to print.
 */
export async function testConfig(o: LoadOptions, host?: HostFacilities): Promise<TestResult> {
  const { config, warnings, places, files } = loadWithWarnings(o);
  const lines = warnings.map(formatWarning);
  lines.push(...await checkHost(config, places, host));
  for (const server of effectiveServers(config)) {
    const [problem] = [...checkTlsConfig(server), ...checkUpstreamTlsConfig(server)];
    if (problem) throw problem;
    try {
      if (serverUsesTls(server)) tls.createSecureContext(buildServerTls(server).context);
    } catch (err) {
      throw tlsConfigError(err, server);
    }
    lines.push(...tlsConfigWarnings(server));
  }
  return { config, warnings: lines, files };
}

interface TestResult {
  config: Config;
  /** Warning lines to print. */
  warnings: string[];
  /** The files read, for `-T`. */
  files: ConfigFile[];
}

async function reportTest(file: string, quiet: boolean, fn: () => Promise<TestResult>): Promise<TestResult | null> {
  try {
    const result = await fn();
    const { warnings } = result;
    for (const w of warnings) say(`[warn] ${w}`);
    if (!quiet) {
      say(`the configuration file ${file} syntax is ok`);
      say(`configuration file ${file} test is successful`);
    }
    return result;
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    say(`configuration file ${file} test failed`);
    return null;
  }
}

export function versionText(details: boolean): string {
  let text = `mailproxy version: mailproxy/${VERSION}\n`;
  if (details) {
    text += `runtime: ${runtimeVersion()} (${process.platform}-${process.arch})\n`;
    // process.versions.openssl is a compatibility string on Bun and Deno; the TLS table knows the real library.
    text += `built with ${tlsRuntime().library} (node:tls), node:net node:dns node:crypto\n`;
    text += `configure arguments: --with-mail --with-mail_ssl_module --with-auth-http-pool --with-toml\n`;
  }
  return text;
}

async function nginxMode(argv: string[]): Promise<number> {
  const parsed = parseNginxFlags(argv);
  if (!parsed.ok) {
    say(parsed.error);
    return 1;
  }
  const f = parsed.flags;
  if (f.help) {
    process.stderr.write(versionText(false) + NGINX_USAGE);
    return 0;
  }
  if (f.version) {
    process.stderr.write(versionText(f.versionDetails));
    if (!f.test && !f.signal) return 0;
  }
  const file = path.resolve(f.prefix ?? ".", f.config ?? DEFAULT_CONFIG);
  const opts: LoadOptions = { file, prefix: f.prefix, globalDirectives: f.globalDirectives };
  if (f.test) {
    const tested = await reportTest(file, f.quiet, () => testConfig(opts));
    if (tested && f.dump) process.stdout.write(dumpFiles(tested.files));
    return tested ? 0 : 1;
  }
  let config: Config;
  try {
    config = loadAndWarn(opts);
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    return 1;
  }
  if (f.signal) {
    const problem = signalRunning(config, f.signal);
    if (problem) say(`[error] ${problem}`);
    return problem ? 1 : 0;
  }
  // `-e FILE` is relative to the prefix, as nginx takes it.
  const errorLog = f.errorLog === undefined ? undefined : resolvePath(f.errorLog, config.prefix);
  return await runOrEmerg(config, { reload: () => loadFromOptions(opts), errorLog });
}

/** Run until stopped; a start that fails (a log that cannot be opened) is nginx's `[emerg]` line and status 1. */
async function runOrEmerg(config: Config, options: Parameters<typeof runProxy>[1]): Promise<number> {
  try {
    return await runProxy(config, options);
  } catch (err) {
    say(`[emerg] ${(err as Error).message}`);
    return 1;
  }
}

const configArgs = {
  config: { type: "string", alias: "c", description: "configuration file (nginx format, or TOML by .toml extension)" },
  prefix: { type: "string", alias: "p", description: "prefix path for relative paths" },
} as const;

const serve = defineCommand({
  meta: { name: "serve", description: "run the proxy (config file, ad-hoc flags, or both)" },
  args: {
    ...configArgs,
    listen: { type: "string", description: "listen address, repeatable (e.g. 1143, 127.0.0.1:993 ssl)" },
    protocol: { type: "string", description: "imap, pop3, smtp or sieve" },
    "auth-http": { type: "string", description: "auth_http URL" },
    upstream: { type: "string", description: "HOST:PORT passthrough backend (no auth service needed)" },
    "server-name": { type: "string", description: "server_name" },
    "ssl-certificate": { type: "string", description: "PEM certificate" },
    "ssl-certificate-key": { type: "string", description: "PEM key" },
    starttls: { type: "string", description: "on, only or off" },
    "log-level": { type: "string", description: "debug info notice warn error crit alert emerg" },
  },
  async run({ args }) {
    const adhoc: AdhocFlags = {
      listen: ([] as string[]).concat((args.listen as string | string[] | undefined) ?? []),
      protocol: args.protocol,
      authHttp: args["auth-http"],
      upstream: args.upstream,
      serverName: args["server-name"],
      sslCertificate: args["ssl-certificate"],
      sslCertificateKey: args["ssl-certificate-key"],
      starttls: args.starttls,
      logLevel: args["log-level"],
    };
    const opts: LoadOptions = { file: args.config, prefix: args.prefix, adhoc };
    let config: Config;
    try {
      config = loadAndWarn(opts);
    } catch (err) {
      say(`[emerg] ${(err as Error).message}`);
      process.exit(1);
    }
    process.exit(await runOrEmerg(config, { reload: () => loadFromOptions(opts) }));
  },
});

const check = defineCommand({
  meta: { name: "check", description: "test the configuration (like nginx -t)" },
  args: { ...configArgs, quiet: { type: "boolean", alias: "q", description: "only errors" } },
  async run({ args }) {
    const file = path.resolve(args.config ?? DEFAULT_CONFIG);
    const ok = await reportTest(file, !!args.quiet, () => testConfig({ file, prefix: args.prefix }));
    process.exit(ok ? 0 : 1);
  },
});

const convert = defineCommand({
  meta: { name: "config", description: "print the configuration converted to another format" },
  args: { ...configArgs, to: { type: "string", description: "toml or nginx", required: true } },
  run({ args }) {
    const file = path.resolve(args.config ?? DEFAULT_CONFIG);
    if (args.to !== "toml" && args.to !== "nginx") {
      say(`invalid value "${args.to}" for --to, it must be "toml" or "nginx"`);
      process.exit(1);
    }
    try {
      const config = loadConfig(file, { prefix: args.prefix }).config;
      process.stdout.write(args.to === "toml" ? toToml(config) : toNginx(config));
    } catch (err) {
      say(`[emerg] ${(err as Error).message}`);
      process.exit(1);
    }
  },
});

const version = defineCommand({
  meta: { name: "version", description: "print version, runtime and build options" },
  run() {
    process.stdout.write(versionText(true));
  },
});

const root = defineCommand({
  meta: { name: "mailproxy", version: VERSION, description: "IMAP, POP3 and SMTP proxy, a drop-in for nginx's mail proxy" },
  subCommands: { serve, check, config: convert, version },
});

/**
 * citty's usage with its colour codes only on a terminal without NO_COLOR (citty itself
 * decides once at import, from NO_COLOR=1, TERM, TEST and CI, never from the terminal).
 */
async function showUsage<T extends ArgsDef>(cmd: CommandDef<T>, parent?: CommandDef<T>): Promise<void> {
  const usage = await renderUsage(cmd, parent);
  process.stdout.write(`${wantsColour(process.stdout, process.env) ? usage : stripColour(usage)}\n\n`);
}

export function wantsColour(out: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return out.isTTY === true && !env.NO_COLOR;
}

export function stripColour(text: string): string {
  return text.replace(/\x1b\[[0-9;]*m/g, "");
}

export async function main(argv: string[]): Promise<void> {
  // Hidden: a worker process started by the master (src/server/process/master.ts), config on stdin.
  if (argv[0] === WORKER_SUBCOMMAND) process.exit(await runWorker());
  if (argv.length > 0 && SUBCOMMANDS.has(argv[0])) {
    await runMain(root, { rawArgs: argv, showUsage });
    return;
  }
  const code = await nginxMode(argv);
  process.exit(code);
}
