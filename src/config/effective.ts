/**
 * What a server actually runs with: its own value, else the mail block's, else the
 * built-in default from the directive table. Lists are never merged across levels.
 */

import type { EffectiveServer, MailBlock, ServerBlock } from "./model.ts";
import { SETTINGS_DIRECTIVES } from "./directives.ts";

/**
 * Applies mail→server inheritance and defaults. `error_log` defaults to `[]`, meaning
 * "use the top-level log". Throws if the server has no protocol (the loaders never
 * produce such a server).
 */
export function effectiveServer(mail: MailBlock, server: ServerBlock): EffectiveServer {
  if (server.protocol === undefined) throw new Error("server has no protocol");
  const own = server.settings as Record<string, unknown>;
  const inherited = mail.settings as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const d of SETTINGS_DIRECTIVES) {
    const value = own[d.name] !== undefined
      ? own[d.name]
      : d.contexts.includes("mail") && inherited[d.name] !== undefined
      ? inherited[d.name]
      : d.default?.();
    if (value !== undefined) out[d.name] = structuredClone(value);
  }
  out.protocol = server.protocol;
  out.listen = server.listen;
  out.source = server.source;
  return out as unknown as EffectiveServer;
}
