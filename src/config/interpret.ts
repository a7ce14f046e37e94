/**
 * Statements → the typed Config, driven by the directive table. Both loaders (nginx and
 * TOML) end here, so validation, repeat rules and the per-server checks are the same for
 * both formats. Includes are expanded here, in the context where they appear, through a
 * format-specific reader.
 */

import type { Config, MailBlock, ServerBlock, Settings, Source, UpstreamBlock } from "./model.ts";
import { ConfigError, type ConfigWarning, type Loc, ValueError } from "./errors.ts";
import type { Statement } from "./statement.ts";
import {
  type Context,
  detectProtocol,
  directive,
  type Directive,
  IGNORED_EVENTS,
  IGNORED_MAIN,
  KNOWN_NON_MAIL,
  SKIPPED_TOP_LEVEL,
  UPSTREAM_NAME,
} from "./directives.ts";
import { listenPairs } from "./values/listen.ts";
import { type PathBase, resolvePath, unreadable } from "./paths.ts";
import { Places } from "./places.ts";
import { dirname } from "node:path";

/** Expands one `include` pattern into the statements of the matching files, in order. */
type IncludeReader = (pattern: string, at: Loc, ctx: Context) => Statement[];

interface InterpretOptions {
  file: string;
  prefix: string;
  readInclude: IncludeReader;
  /** `-g` directives, run in the main context before the file. */
  global?: Statement[];
  /** Open every file the servers will read (certificates, keys, ...) and name the directive of one that fails. */
  checkFiles?: boolean;
  /** `server` blocks joining the mail block after its own; a mail block is made for them when there is none. */
  servers?: Statement[];
}

/** nginx gives up on deeper include chains long before; this only stops include loops. */
const MAX_INCLUDE_DEPTH = 32;

interface Frame {
  ctx: Context;
  /** Where onBlock / main-context values live (ServerBlock, Config). */
  block: Record<string, unknown>;
  /** Where mail/server settings live. */
  settings: Record<string, unknown>;
  seen: Set<string>;
}

/** TLS files nginx reads only to verify client certificates. */
const VERIFY_FILES = ["ssl_trusted_certificate", "ssl_crl"];

function toSource(at: Loc): Source {
  return at.path === undefined ? { file: at.file, line: at.line } : { file: at.file, line: at.line, path: at.path };
}

interface Interpreted {
  config: Config;
  warnings: ConfigWarning[];
  /** Where each directive was written. */
  places: Places;
}

export function interpret(main: Statement[], opts: InterpretOptions): Interpreted {
  return new Interpreter(opts).run(main);
}

class Interpreter {
  private readonly warnings: ConfigWarning[] = [];
  private readonly config: Config;
  /** Each (address, port) pair and the listens that claimed it, server by server. */
  private readonly pairs = new Map<string, Array<{ server: object; at: Loc; defaultServer: boolean }>>();
  private readonly places = new Places();
  private sawEvents = false;

  constructor(private readonly opts: InterpretOptions) {
    this.config = {
      file: opts.file,
      prefix: opts.prefix,
      worker_processes: directive("worker_processes")!.default!() as number,
      error_log: [],
      daemon: directive("daemon")!.default!() as boolean,
      worker_connections: directive("worker_connections")!.default!() as number,
    };
  }

  run(main: Statement[]): Interpreted {
    const config = this.config as unknown as Record<string, unknown>;
    const frame: Frame = { ctx: "main", block: config, settings: config, seen: new Set() };
    this.runBlock(this.opts.global ?? [], frame, 0);
    this.runBlock(main, frame, 0);
    const servers = this.opts.servers ?? [];
    if (!this.config.mail && servers.length) this.block({ name: "mail", args: [], at: servers[0]!.at }, [], 0);
    return { config: this.config, warnings: this.warnings, places: this.places };
  }

  private warn(message: string, at: Loc): void {
    const w: ConfigWarning = { message, file: at.file, line: at.line };
    if (at.path !== undefined) w.path = at.path;
    this.warnings.push(w);
  }

  private runBlock(statements: Statement[], frame: Frame, depth: number): void {
    for (const st of statements) {
      if (st.name === "include") this.include(st, frame, depth);
      else this.statement(st, frame, depth);
    }
  }

  private include(st: Statement, frame: Frame, depth: number): void {
    if (st.block) throw new ConfigError("not_terminated", 'directive "include" is not terminated by ";"', st.at);
    if (st.args.length !== 1) {
      throw new ConfigError("invalid_arguments", 'invalid number of arguments in "include" directive', st.at);
    }
    if (depth >= MAX_INCLUDE_DEPTH) {
      throw new ConfigError("include", `includes nested too deeply at "${st.args[0]}"`, st.at);
    }
    this.runBlock(this.opts.readInclude(st.args[0]!, st.at, frame.ctx), frame, depth + 1);
  }

  private statement(st: Statement, frame: Frame, depth: number): void {
    const d = directive(st.name, frame.ctx);
    if (!d || !d.contexts.includes(frame.ctx)) {
      if (frame.ctx === "main" && (SKIPPED_TOP_LEVEL.includes(st.name) || IGNORED_MAIN.includes(st.name))) {
        this.warn(`"${st.name}" directive is ignored by mailproxy`, st.at);
        return;
      }
      if (frame.ctx === "events" && IGNORED_EVENTS.includes(st.name)) {
        this.warn(`"${st.name}" directive is ignored by mailproxy`, st.at);
        return;
      }
      if (d || KNOWN_NON_MAIL.includes(st.name)) {
        throw new ConfigError("not_allowed_here", `"${st.name}" directive is not allowed here`, st.at);
      }
      throw new ConfigError("unknown_directive", `unknown directive "${st.name}"`, st.at);
    }
    if (d.kind === "block" && !st.block) {
      throw new ConfigError("no_opening_brace", `directive "${st.name}" has no opening "{"`, st.at);
    }
    if (d.kind !== "block" && st.block) {
      throw new ConfigError("not_terminated", `directive "${st.name}" is not terminated by ";"`, st.at);
    }
    const [min, max] = d.args;
    if (st.args.length < min || st.args.length > max) {
      throw new ConfigError("invalid_arguments", `invalid number of arguments in "${st.name}" directive`, st.at);
    }
    if (d.kind === "block") this.block(st, st.block!, depth);
    else this.value(d, st, frame);
  }

  private block(st: Statement, body: Statement[], depth: number): void {
    const config = this.config as unknown as Record<string, unknown>;
    if (st.name === "events") {
      if (this.sawEvents) throw new ConfigError("duplicate", '"events" directive is duplicate', st.at);
      this.sawEvents = true;
      this.runBlock(body, { ctx: "events", block: config, settings: config, seen: new Set() }, depth);
    } else if (st.name === "mail") {
      if (this.config.mail) throw new ConfigError("duplicate", '"mail" directive is duplicate', st.at);
      const mail: MailBlock = { source: toSource(st.at), settings: {}, servers: [] };
      this.config.mail = mail;
      const settings = mail.settings as Record<string, unknown>;
      const frame: Frame = { ctx: "mail", block: settings, settings, seen: new Set() };
      this.runBlock(body, frame, depth);
      this.runBlock(this.opts.servers ?? [], frame, depth);
      this.checkServers(mail);
    } else if (st.name === "server") {
      const mail = this.config.mail!;
      const server: ServerBlock = { source: toSource(st.at), listen: [], settings: {} };
      mail.servers.push(server);
      const frame: Frame = {
        ctx: "server",
        block: server as unknown as Record<string, unknown>,
        settings: server.settings as Record<string, unknown>,
        seen: new Set(),
      };
      this.runBlock(body, frame, depth);
      if (server.listen.length === 0) {
        throw new ConfigError("no_listen", 'no "listen" is defined for server', st.at);
      }
      if (server.protocol === undefined) server.protocol = detectProtocol(server.listen);
    } else if (st.name === "upstream") {
      this.upstream(st, body, depth);
    }
  }

  /** `upstream NAME { ... }` in mail: a named pool with at least one server. */
  private upstream(st: Statement, body: Statement[], depth: number): void {
    const mail = this.config.mail!;
    const name = st.args[0]!;
    if (!UPSTREAM_NAME.test(name)) throw new ConfigError("invalid_value", `invalid upstream name "${name}"`, st.at);
    if (mail.upstreams?.some((u) => u.name === name)) throw new ConfigError("duplicate", `duplicate upstream "${name}"`, st.at);
    const upstream: UpstreamBlock = { name, source: toSource(st.at), settings: {} };
    (mail.upstreams ??= []).push(upstream);
    const settings = upstream.settings as Record<string, unknown>;
    this.runBlock(body, { ctx: "upstream", block: settings, settings, seen: new Set() }, depth);
    if (!upstream.settings.server?.length) throw new ConfigError("no_servers", `no servers are inside upstream "${name}"`, st.at);
  }

  private value(d: Directive, st: Statement, frame: Frame): void {
    const onBlock = frame.ctx === "main" || frame.ctx === "events" || d.onBlock === true;
    const target = onBlock ? frame.block : frame.settings;
    const seen = frame.seen.has(d.name);
    if (d.repeat === "duplicate" && seen) {
      throw new ConfigError("duplicate", `"${d.name}" directive is duplicate`, st.at);
    }
    const args = d.file ? [resolvePath(st.args[0]!, this.base(d.file)), ...st.args.slice(1)] : st.args;
    this.places.add(target, d.name, { args, at: st.at });
    let value: unknown;
    try {
      value = d.parse(args, {
        warn: (message) => this.warn(message, st.at),
        previous: seen ? target[d.name] : undefined,
        level: target,
        source: toSource(st.at),
      });
    } catch (e) {
      if (!(e instanceof ValueError)) throw e;
      const reason = e.ofDirective ? `"${d.name}" directive ${e.message}` : e.message;
      throw new ConfigError(e.code, reason, st.at);
    }
    if (d.name === "listen") this.claimPairs(value as ServerBlock["listen"], st.at, frame.block);

    if (d.repeat === "append") {
      target[d.name] = [...(seen ? (target[d.name] as unknown[]) : []), ...(value as unknown[])];
    } else if (d.repeat === "or") {
      const acc = seen ? [...(target[d.name] as string[])] : [];
      (value as string[]).forEach((method, i) => {
        if (acc.includes(method)) this.warn(`duplicate value "${st.args[i]}"`, st.at);
        else acc.push(method);
      });
      target[d.name] = acc;
    } else {
      target[d.name] = value;
    }
    frame.seen.add(d.name);
  }

  /** Where the directive in effect for the server was written: in the server, else in mail. */
  private placeOf(mail: MailBlock, server: ServerBlock, name: string): Loc {
    return this.places.inEffect(mail, server, name).at(-1)!.at;
  }

  /** What a relative path is relative to: the main file's folder, or the `-p` prefix. */
  private base(kind: PathBase): string {
    return kind === "conf" ? dirname(this.opts.file) : this.opts.prefix;
  }

  /**
   * Every file this server will read must open; a failure names the directive's place.
   * TLS files count only when the server speaks TLS (as nginx loads them only then);
   * backend TLS files whenever set, since the auth service may ask for TLS per login.
   */
  private checkFiles(mail: MailBlock, server: ServerBlock, usesTls: boolean): void {
    const verify = (server.settings.ssl_verify_client ?? mail.settings.ssl_verify_client ?? "off") !== "off";
    const names = new Set([...this.places.names(server.settings), ...this.places.names(mail.settings)]);
    for (const name of names) {
      const d = directive(name)!;
      // Logs (base "prefix") are the logger's to open; these are the files the server reads.
      if (d.file !== "conf" || (d.module === "ssl" && (!usesTls || (VERIFY_FILES.includes(name) && !verify)))) continue;
      for (const { args, at } of this.places.inEffect(mail, server, name)) {
        const problem = unreadable(args[0]!);
        if (problem) throw new ConfigError("file", problem, at);
      }
    }
  }

  /**
   * An (address, port) pair may appear once in a server (§5.3). Beyond nginx, several
   * servers may share it when their server_names differ (SNI picks one); that is checked
   * once the mail block is complete (sharedPairs), when every server_name is known.
   */
  private claimPairs(listens: ServerBlock["listen"], at: Loc, server: object): void {
    for (const spec of listens) {
      const pairs = listenPairs(spec);
      for (const pair of pairs) {
        if (this.pairs.get(pair)?.some((c) => c.server === server)) {
          throw new ConfigError("duplicate_listen", `duplicate "${pair}" address and port pair`, at);
        }
      }
      for (const pair of pairs) {
        const claims = this.pairs.get(pair) ?? [];
        claims.push({ server, at, defaultServer: spec.default_server });
        this.pairs.set(pair, claims);
      }
    }
  }

  /** Servers sharing a pair need distinct server_names and at most one default_server. */
  private checkSharedPairs(mail: MailBlock): void {
    const nameOf = (server: object) =>
      ((server as ServerBlock).settings.server_name ?? mail.settings.server_name ?? "").toLowerCase();
    for (const [pair, claims] of this.pairs) {
      const names = new Set<string>();
      let defaults = 0;
      for (const claim of claims) {
        const name = nameOf(claim.server);
        if (names.has(name)) throw new ConfigError("duplicate_listen", `duplicate "${pair}" address and port pair`, claim.at);
        names.add(name);
        if (claim.defaultServer && ++defaults > 1) {
          throw new ConfigError("duplicate_listen", `a duplicate default server for "${pair}"`, claim.at);
        }
      }
    }
  }

  /** The per-server checks nginx runs when merging, module by module (core, ssl, auth_http). */
  private checkServers(mail: MailBlock): void {
    this.checkSharedPairs(mail);
    for (const server of mail.servers) {
      if (server.protocol === undefined) {
        throw new ConfigError("unknown_protocol", "unknown mail protocol for server", server.source);
      }
    }
    for (const server of mail.servers) {
      const usesTls = this.checkTls(mail, server);
      if (this.opts.checkFiles) this.checkFiles(mail, server, usesTls);
    }
    for (const server of mail.servers) {
      const pass = server.settings.proxy_pass;
      if (pass !== undefined && UPSTREAM_NAME.test(pass) && !pass.includes(":") && !mail.upstreams?.some((u) => u.name === pass)) {
        throw new ConfigError("proxy_pass", `no port in proxy_pass "${pass}" and no upstream of that name`, this.placeOf(mail, server, "proxy_pass"));
      }
    }
    for (const server of mail.servers) {
      if (server.settings.auth_http === undefined && mail.settings.auth_http === undefined &&
        server.settings.proxy_pass === undefined && (server.settings.auth_file ?? mail.settings.auth_file) === undefined) {
        throw new ConfigError("no_auth_http", 'no "auth_http" is defined for server', server.source);
      }
    }
  }

  /** TLS needs certificates and keys, checked structurally (no file is read here). True when the server uses TLS. */
  private checkTls(mail: MailBlock, server: ServerBlock): boolean {
    const own = <K extends keyof Settings>(key: K) => server.settings[key] ?? mail.settings[key];
    const sslListens = server.listen.filter((l) => l.ssl);
    const starttls = own("starttls") ?? "off";
    let mode: string;
    let at: Loc;
    if (own("ssl") === true) {
      // The deprecated `ssl on` makes every listen of the server a `listen ... ssl`.
      mode = "ssl";
      at = this.placeOf(mail, server, "ssl");
      for (const listen of server.listen) listen.ssl = true;
    } else if (sslListens.length > 0) {
      mode = "listen ... ssl";
      at = sslListens[sslListens.length - 1]!.source;
    } else if (starttls !== "off") {
      mode = "starttls";
      at = this.placeOf(mail, server, "starttls");
    } else {
      return false;
    }
    const certs = own("ssl_certificate") ?? [];
    const keys = own("ssl_certificate_key");
    if (certs.length === 0) {
      throw new ConfigError("no_certificate", `no "ssl_certificate" is defined for the "${mode}" directive`, at);
    }
    if (keys === undefined || keys.length === 0) {
      throw new ConfigError("no_certificate_key", `no "ssl_certificate_key" is defined for the "${mode}" directive`, at);
    }
    if (keys.length < certs.length) {
      throw new ConfigError(
        "no_certificate_key",
        `no "ssl_certificate_key" is defined for certificate "${certs[certs.length - 1]}" and the "${mode}" directive`,
        at,
      );
    }
    return true;
  }
}
