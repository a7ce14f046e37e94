/** Config → nginx configuration text (the inverse of the nginx loader, modulo layout). */

import type { Config, ServerBlock, UpstreamBlock } from "./model.ts";
import { detectProtocol, DIRECTIVES, directive, type Directive, SETTINGS_DIRECTIVES, UPSTREAM_DIRECTIVES } from "./directives.ts";

/** Quotes a word when the tokenizer would otherwise split, unescape or misread it. */
function nginxWord(word: string): string {
  if (word !== "" && !/[\s;{}"'#\\]/.test(word)) return word;
  const escaped = word.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\t/g, "\\t").replace(/\r/g, "\\r")
    .replace(/\n/g, "\\n");
  return `"${escaped}"`;
}

function lines(d: Directive, value: unknown, indent: string): string[] {
  return d.format(value).map((args) => `${indent}${[d.name, ...args].map(nginxWord).join(" ")};`);
}

function settingsLines(settings: Record<string, unknown>, indent: string, directives = SETTINGS_DIRECTIVES): string[] {
  const out: string[] = [];
  for (const d of directives) {
    if (settings[d.name] !== undefined) out.push(...lines(d, settings[d.name], indent));
  }
  return out;
}

function serverLines(server: ServerBlock): string[] {
  const out = ["    server {"];
  out.push(...lines(directive("listen")!, server.listen, "        "));
  // An explicit protocol is only needed when the ports don't already say it.
  if (server.protocol !== undefined && detectProtocol(server.listen) !== server.protocol) {
    out.push(`        protocol ${server.protocol};`);
  }
  out.push(...settingsLines(server.settings as Record<string, unknown>, "        "));
  out.push("    }");
  return out;
}

function upstreamLines(upstream: UpstreamBlock): string[] {
  const settings = upstream.settings as Record<string, unknown>;
  return [`    upstream ${nginxWord(upstream.name)} {`, ...settingsLines(settings, "        ", UPSTREAM_DIRECTIVES), "    }"];
}

/** Writes a Config as an nginx configuration that loads back to the same model. */
export function toNginx(config: Config): string {
  const out: string[] = [];
  const top = config as unknown as Record<string, unknown>;
  for (const d of DIRECTIVES) {
    if (!d.contexts.includes("main") || d.kind === "block") continue;
    const value = top[d.name];
    if (value === undefined || (Array.isArray(value) && value.length === 0)) continue;
    if (d.default !== undefined && JSON.stringify(d.default()) === JSON.stringify(value)) continue;
    out.push(...lines(d, value, ""));
  }
  if (config.worker_connections !== directive("worker_connections")!.default!()) {
    if (out.length) out.push("");
    out.push(`events {`, `    worker_connections ${config.worker_connections};`, `}`);
  }
  if (config.mail) {
    if (out.length) out.push("");
    out.push("mail {");
    out.push(...settingsLines(config.mail.settings as Record<string, unknown>, "    "));
    for (const upstream of config.mail.upstreams ?? []) {
      out.push("");
      out.push(...upstreamLines(upstream));
    }
    for (const server of config.mail.servers) {
      out.push("");
      out.push(...serverLines(server));
    }
    out.push("}");
  }
  return out.join("\n") + "\n";
}
