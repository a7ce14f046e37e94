/**
 * Configuration errors and warnings, worded like nginx's own so that an nginx user
 * recognises them: `unknown directive "foo" in /etc/mail.conf:12`.
 *
 * A place in a configuration is a `Loc`: a file and a line for the nginx format, plus a
 * TOML key path (`mail.server[2].listen[0]`) for the TOML format, which has no useful
 * line numbers once parsed. Messages are formatted from the place:
 *   nginx: `<message> in FILE:LINE`
 *   TOML:  `FILE: <path>: <message>`
 */

export interface Loc {
  file: string;
  line: number;
  /** TOML key path; when present, it replaces the line in messages. */
  path?: string;
}

/** Stable, machine-readable error kinds (the message wording may be refined, these not). */
export type ConfigErrorCode =
  | "syntax"
  | "toml_syntax"
  | "toml_type"
  | "include"
  | "file"
  | "host"
  | "unknown_directive"
  | "not_allowed_here"
  | "invalid_arguments"
  | "not_terminated"
  | "no_opening_brace"
  | "duplicate"
  | "invalid_value"
  | "invalid_number"
  | "invalid_flag"
  | "invalid_parameter"
  | "listen"
  | "duplicate_listen"
  | "no_listen"
  | "no_servers"
  | "unknown_protocol"
  | "no_auth_http"
  | "auth_http_url"
  | "proxy_pass"
  | "resolver"
  | "session_cache"
  | "no_certificate"
  | "no_certificate_key"
  /** A TLS file (certificate, key, CA, CRL, ticket key, password file) cannot be loaded. */
  | "tls_file"
  /** A TLS setting this runtime's TLS library would silently ignore. */
  | "tls_unsupported"
  /** ssl_verify_client without the CAs to verify against. */
  | "tls_no_client_ca";

/** Formats `message` with its place the way the file's format calls for. */
export function formatAt(message: string, at: Loc): string {
  if (at.file === "") return message;
  if (at.path !== undefined) return `${at.file}: ${at.path}: ${message}`;
  if (at.line <= 0) return `${message} in ${at.file}`;
  return `${message} in ${at.file}:${at.line}`;
}

/** A configuration the loader refuses. `message` is the full text, place included. */
export class ConfigError extends Error {
  readonly code: ConfigErrorCode;
  readonly file: string;
  readonly line: number;
  readonly path?: string;
  /** The message without the place, e.g. `unknown directive "foo"`. */
  readonly reason: string;

  constructor(code: ConfigErrorCode, reason: string, at: Loc) {
    super(formatAt(reason, at));
    this.name = "ConfigError";
    this.code = code;
    this.reason = reason;
    this.file = at.file;
    this.line = at.line;
    if (at.path !== undefined) this.path = at.path;
  }
}

/** Something the loader accepted but wants the user to know (nginx's `[warn]`). */
export interface ConfigWarning {
  /** The message without the place, e.g. `duplicate value "plain"`. */
  message: string;
  file: string;
  line: number;
  path?: string;
}

/** `duplicate value "plain" in /etc/mail.conf:7`. */
export function formatWarning(warning: ConfigWarning): string {
  return formatAt(warning.message, warning);
}

/**
 * Thrown by value parsers that don't know where they are; the interpreter catches it and
 * rethrows a `ConfigError` with the directive's place.
 */
export class ValueError extends Error {
  readonly code: ConfigErrorCode;
  /** nginx's handler-returned messages: shown as `"<name>" directive <reason>`. */
  readonly ofDirective: boolean;
  constructor(code: ConfigErrorCode, reason: string, ofDirective = false) {
    super(reason);
    this.name = "ValueError";
    this.code = code;
    this.ofDirective = ofDirective;
  }
}
