/**
 * Entry points: load a configuration file (nginx or TOML) into the one Config model.
 *
 * @example
 *   const { config, warnings } = loadConfig("/etc/mailproxy/nginx.conf");
 *   for (const server of effectiveServers(config)) console.log(server.protocol, server.listen);
 */

import { dirname, extname, resolve } from "node:path";
import type { Config, EffectiveServer } from "./model.ts";
import type { ConfigWarning, Loc } from "./errors.ts";
import type { Statement } from "./statement.ts";
import type { Context } from "./directives.ts";
import { interpret } from "./interpret.ts";
import { parseNginx } from "./nginx/parser.ts";
import { tomlToStatements } from "./toml.ts";
import { includeFiles, readConfigFile } from "./include.ts";
import { effectiveServer } from "./effective.ts";
import type { Places } from "./places.ts";

export { stripSources } from "./strip_sources.ts";

interface LoadOptions {
  /** `-p PREFIX`; defaults to the main file's folder. */
  prefix?: string;
  /** `-g` text: nginx directives for the main context, applied before the file. */
  globalDirectives?: string;
  /** Open the files the servers will read (certificates, keys, ...) now, naming the directive of one that fails. */
  checkFiles?: boolean;
  /** `server` blocks joining the mail block after the file's own (the ad-hoc flags', adhoc.ts). */
  servers?: Statement[];
}

export interface LoadResult {
  config: Config;
  warnings: ConfigWarning[];
  /** Where each directive was written (for checks after loading). */
  places: Places;
  /** The configuration files read, main file first, each once, as read (for `-T`). */
  files: ConfigFile[];
}

export interface ConfigFile {
  path: string;
  text: string;
}

type ConfigFormat = "nginx" | "toml";

/** `.toml` files are TOML; otherwise the content decides (a `[table]` or `key = value` line means TOML). */
export function detectFormat(fileName: string, text: string): ConfigFormat {
  if (extname(fileName).toLowerCase() === ".toml") return "toml";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    return /^\[/.test(line) || /^[A-Za-z0-9_."-]+\s*=/.test(line) ? "toml" : "nginx";
  }
  return "nginx";
}

/** Loads and validates a configuration file. Throws ConfigError. */
export function loadConfig(file: string, opts: LoadOptions = {}): LoadResult {
  const absolute = resolve(file);
  return loadConfigText(readConfigFile(absolute, undefined), absolute, opts);
}

/** Same as loadConfig for text in hand; `fileName` names it in messages and anchors includes. */
export function loadConfigText(text: string, fileName: string, opts: LoadOptions = {}): LoadResult {
  const file = resolve(fileName);
  const format = detectFormat(file, text);
  const toStatements = (content: string, name: string, ctx: Context): Statement[] =>
    format === "toml" ? tomlToStatements(content, name, ctx) : parseNginx(content, name);
  return loadParsed(toStatements(text, file, "main"), file, new Map([[file, text]]), toStatements, opts);
}

/** Statements made without a file (the ad-hoc flags), as if `fileName` held them. */
export function loadStatements(statements: Statement[], fileName: string, opts: LoadOptions = {}): LoadResult {
  return loadParsed(statements, resolve(fileName), new Map(), parseNginx, opts);
}

function loadParsed(
  main: Statement[],
  file: string,
  files: Map<string, string>,
  toStatements: (content: string, name: string, ctx: Context) => Statement[],
  opts: LoadOptions,
): LoadResult {
  const baseDir = dirname(file);
  const readInclude = (pattern: string, at: Loc, ctx: Context): Statement[] =>
    includeFiles(pattern, baseDir).flatMap((path) => {
      const content = readConfigFile(path, at);
      if (!files.has(path)) files.set(path, content);
      return toStatements(content, path, ctx);
    });

  const commandLine: Loc = { file: "command line", line: 0 };
  const global = opts.globalDirectives
    ? withPlace(parseNginx(opts.globalDirectives, commandLine.file), commandLine)
    : [];

  const interpreted = interpret(main, {
    file,
    prefix: opts.prefix === undefined ? baseDir : resolve(opts.prefix),
    readInclude,
    global,
    servers: opts.servers,
    checkFiles: opts.checkFiles ?? false,
  });
  return { ...interpreted, files: [...files].map(([path, text]) => ({ path, text })) };
}

/** nginx's `-T` dump: each file under `# configuration file PATH:`, verbatim, then a line feed. */
export function dumpFiles(files: readonly ConfigFile[]): string {
  return files.map((f) => `# configuration file ${f.path}:\n${f.text}\n`).join("");
}

function withPlace(statements: Statement[], at: Loc): Statement[] {
  return statements.map((s) => ({ ...s, at, ...(s.block ? { block: withPlace(s.block, at) } : {}) }));
}

/** Every server of the mail block with inheritance and defaults applied, in file order. */
export function effectiveServers(config: Config): EffectiveServer[] {
  const mail = config.mail;
  return mail ? mail.servers.map((server) => effectiveServer(mail, server)) : [];
}
