/**
 * mailproxy as a library: load a configuration and run the proxy inside your
 * own program.
 *
 * @example
 * ```ts
 * import { loadConfigText, Logger, MailProxy } from "./mod.ts";
 * const { config } = loadConfigText(`mail { server { listen 1143; protocol imap;
 *   proxy_pass 127.0.0.1:143; } }`, "inline.conf");
 * const proxy = new MailProxy(new Logger(config.error_log));
 * await proxy.start(config);
 * ```
 */
export type * from "./src/config/model.ts";
export { effectiveServers, loadConfig, loadConfigText } from "./src/config/load.ts";
export { ConfigError } from "./src/config/errors.ts";
export { toNginx } from "./src/config/write_nginx.ts";
export { toToml } from "./src/config/write_toml.ts";
export { MailProxy } from "./src/server/mail_proxy.ts";
export { Logger } from "./src/log/logger.ts";
export type { AuthRequest, AuthResult, AuthSource } from "./src/auth/types.ts";
export { AuthHttpClient } from "./src/auth/auth_http.ts";
export type { Action, BackendLogin, PreauthMachine } from "./src/protocols/types.ts";
export { VERSION } from "./src/version.ts";
