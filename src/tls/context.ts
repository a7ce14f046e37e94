/**
 * The server-side TLS setup of one `server {}`, from its ssl_* directives: node:tls
 * context options, the ALPN id, and the trust used to verify client certificates.
 * `checkTlsConfig` lists what cannot be loaded or what this runtime would ignore.
 */
import fs from "node:fs";
import crypto from "node:crypto";
import type tls from "node:tls";
import type { EffectiveServer } from "../config/model.ts";
import { ConfigError, formatAt, ValueError } from "../config/errors.ts";
import { type TlsRuntime, tlsRuntime } from "../runtime.ts";
import type { ClientTrust } from "./client_verify.ts";
import { parseCrls } from "./crl.ts";
import { type Certificate, parseCertificate } from "./x509.ts";

/** Whether the server needs TLS at all (a `listen ... ssl` or starttls on|only). */
export function serverUsesTls(server: EffectiveServer): boolean {
  return server.starttls !== "off" || server.listen.some((l) => l.ssl);
}

export interface ServerTls {
  /** For tls.createSecureContext. */
  context: tls.SecureContextOptions;
  /** The one ALPN id offered: the server's protocol. */
  alpn: string[];
  /** ssl_verify_client is not off: ask for a certificate. */
  requestCert: boolean;
  /** Present when client certificates are verified. */
  trust?: ClientTrust;
}

const DEFAULT_CIPHERS = "HIGH:!aNULL:!MD5";
const VERSION_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

function readFile(file: string, what: string, encoding: "latin1" | null = "latin1"): string | Buffer {
  if (file.startsWith("data:")) return encoding ? file.slice(5) : Buffer.from(file.slice(5), "latin1");
  try {
    return encoding ? fs.readFileSync(file, encoding) : fs.readFileSync(file);
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new ValueError("tls_file", `cannot load ${what} "${file}": ${reason}`);
  }
}

const readText = (file: string, what: string) => readFile(file, what) as string;

/** The certificates of a PEM text, as parsed objects. */
function pemCertificates(text: string, file: string): crypto.X509Certificate[] {
  const blocks = text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new ValueError("tls_file", `cannot load certificate "${file}": no certificate in the file`);
  return blocks.map((b) => new crypto.X509Certificate(b));
}

/** A CA certificate as the client-certificate verifier reads it. */
function trustAnchor(cert: crypto.X509Certificate, file: string): Certificate {
  try {
    return parseCertificate(new Uint8Array(cert.raw));
  } catch (err) {
    throw new ValueError("tls_file", `cannot load certificate "${file}": ${(err as Error).message}`);
  }
}

/**
 * Decrypt each key with the first passphrase of ssl_password_file that opens it, and
 * hand the runtime plain PKCS#8: passphrase handling then does not depend on the runtime.
 */
function loadKeys(server: EffectiveServer): string[] {
  return server.ssl_certificate_key.map((file) => loadKey(file, passphrasesOf(server)));
}

function passphrasesOf(server: EffectiveServer): string[] {
  return server.ssl_password_file
    ? readText(server.ssl_password_file, "password file").split(/\r?\n/).filter((l) => l.length > 0)
    : [];
}

/** One key file, opened with the first passphrase that works. */
function loadKey(file: string, passphrases: string[]): string {
  if (/^(engine|store):/.test(file)) {
    throw new ValueError("tls_file", `cannot load certificate key "${file}": "engine:" and "store:" keys are not supported`);
  }
  const pem = readText(file, "certificate key");
  for (const passphrase of [undefined, ...passphrases]) {
    try {
      const key = crypto.createPrivateKey({ key: pem, passphrase: passphrase ?? "" });
      return key.export({ type: "pkcs8", format: "pem" }) as string;
    } catch {
      // try the next passphrase
    }
  }
  const why = passphrases.length ? "no passphrase in ssl_password_file opens it" : "bad key or missing ssl_password_file";
  throw new ValueError("tls_file", `cannot load certificate key "${file}": ${why}`);
}

/**
 * A key must be its certificate's, as OpenSSL checks when nginx loads the pair; Deno's
 * TLS library would take the pair and fail every handshake instead.
 */
function checkKeyMatches(certPem: string, certFile: string, keyPem: string | undefined, keyFile: string | undefined): void {
  if (keyPem === undefined || keyFile === undefined) return;
  const [cert] = pemCertificates(certPem, certFile);
  if (!cert!.checkPrivateKey(crypto.createPrivateKey(keyPem))) {
    throw new ValueError("tls_file", `SSL_CTX_use_PrivateKey("${keyFile}") failed (SSL: error:05800074:x509 certificate routines::key values mismatch)`);
  }
}

/** ssl_session_ticket_key files: 48 (AES-128) or 80 (AES-256) bytes each. */
function loadTicketKeys(server: EffectiveServer): Buffer[] {
  return server.ssl_session_ticket_key.map((file) => {
    const key = readFile(file, "ssl_session_ticket_key", null) as Buffer;
    if (key.length !== 48 && key.length !== 80) {
      throw new ValueError("tls_file", `"${file}" ssl_session_ticket_key file must be 48 or 80 bytes, not ${key.length}`);
    }
    return key;
  });
}

/**
 * What ssl_conf_command can express in node:tls, as context options; undefined = cannot.
 * Certificate and PrivateKey read their file (as OpenSSL does, replacing the pair).
 */
function confCommand(name: string, value: string, runtime: TlsRuntime, server: EffectiveServer): tls.SecureContextOptions | undefined {
  switch (name.toLowerCase()) {
    case "certificate":
      return { cert: readText(value, "certificate") };
    case "privatekey":
      return { key: loadKey(value, passphrasesOf(server)) };
    case "minprotocol":
      return VERSION_ORDER.includes(value as never) ? { minVersion: value as tls.SecureVersion } : undefined;
    case "maxprotocol":
      return VERSION_ORDER.includes(value as never) ? { maxVersion: value as tls.SecureVersion } : undefined;
    case "cipherstring":
      return runtime.cipherList ? { ciphers: value } : undefined;
    case "groups":
    case "curves":
      return runtime.ecdhCurves ? { ecdhCurve: value } : undefined;
    case "options":
      // tickets are on unless turned off, which only some runtimes can
      if (value === "SessionTicket") return runtime.disableTickets ? { secureOptions: 0 } : {};
      if (value === "-SessionTicket") return runtime.disableTickets ? { secureOptions: crypto.constants.SSL_OP_NO_TICKET } : undefined;
      if (!runtime.serverCipherPreference) return undefined;
      if (value === "ServerPreference") return { honorCipherOrder: true };
      if (value === "-ServerPreference") return { honorCipherOrder: false };
      return undefined;
  }
  return undefined;
}

/**
 * Build the server's TLS setup; throws a ValueError whose message says which file or
 * value failed (tlsConfigError places it). Call only when serverUsesTls(server).
 */
export function buildServerTls(server: EffectiveServer, runtime: TlsRuntime = tlsRuntime()): ServerTls {
  const certs = server.ssl_certificate.map((f) => readText(f, "certificate"));
  const keys = loadKeys(server);
  certs.forEach((cert, i) => checkKeyMatches(cert, server.ssl_certificate[i]!, keys[i], server.ssl_certificate_key[i]));
  loadTicketKeys(server);
  const versions = VERSION_ORDER.filter((v) => server.ssl_protocols.includes(v));
  let context: tls.SecureContextOptions = {
    cert: certs.length === 1 ? certs[0] : certs,
    key: keys.length === 1 ? keys[0] : keys,
    ciphers: server.ssl_ciphers,
    honorCipherOrder: server.ssl_prefer_server_ciphers,
    minVersion: versions[0] ?? "TLSv1.2",
    maxVersion: versions[versions.length - 1] ?? "TLSv1.3",
    sessionTimeout: Math.max(1, Math.floor(server.ssl_session_timeout / 1000)),
  };
  if (server.ssl_ecdh_curve !== "auto") context.ecdhCurve = server.ssl_ecdh_curve;
  if (server.ssl_dhparam) context.dhparam = readText(server.ssl_dhparam, "dhparam");
  if (!server.ssl_session_tickets) context.secureOptions = crypto.constants.SSL_OP_NO_TICKET;
  if (server.ssl_client_certificate) context.ca = readText(server.ssl_client_certificate, "certificate");
  for (const [name, value] of server.ssl_conf_command) context = { ...context, ...confCommand(name, value, runtime, server) };

  const requestCert = server.ssl_verify_client !== "off";
  let trust: ClientTrust | undefined;
  if (requestCert) {
    const anchors = [server.ssl_client_certificate, server.ssl_trusted_certificate]
      .filter((f): f is string => !!f)
      .flatMap((f) => pemCertificates(readText(f, "certificate"), f).map((c) => trustAnchor(c, f)));
    trust = { anchors, depth: server.ssl_verify_depth };
    if (server.ssl_crl) {
      const crlFile = server.ssl_crl;
      try {
        trust.crls = parseCrls(readText(crlFile, "CRL"));
      } catch (err) {
        throw new ValueError("tls_file", `cannot load CRL "${crlFile}": ${(err as Error).message}`);
      }
    }
  }
  return { context, alpn: [server.protocol], requestCert, trust };
}

function unsupported(runtime: TlsRuntime, what: string, why: string): string {
  return `${what} is not supported on ${runtime.name} (its node:tls runs on ${runtime.library}, which ${why})`;
}

/** Whether the runtime's TLS library can speak an ssl_protocols version. */
function hasProtocol(runtime: TlsRuntime, protocol: string): boolean {
  if (protocol === "SSLv2" || protocol === "SSLv3") return false;
  return runtime.legacyProtocols || (protocol !== "TLSv1" && protocol !== "TLSv1.1");
}

/** Settings this runtime would silently ignore, as messages; empty when all apply. */
function runtimeProblems(server: EffectiveServer, runtime: TlsRuntime): string[] {
  const out: string[] = [];
  if (server.ssl_certificate.length > 1 && !runtime.multipleCertificates) {
    out.push(unsupported(runtime, "several \"ssl_certificate\" pairs", "always uses the first one"));
  }
  if (server.ssl_ciphers !== DEFAULT_CIPHERS && !runtime.cipherList) {
    out.push(unsupported(runtime, `"ssl_ciphers ${server.ssl_ciphers}"`, "ignores cipher lists"));
  }
  if (server.ssl_prefer_server_ciphers && !runtime.serverCipherPreference) {
    out.push(unsupported(runtime, "\"ssl_prefer_server_ciphers on\"", "ignores the server's cipher preference"));
  }
  if (server.ssl_ecdh_curve !== "auto" && !runtime.ecdhCurves) {
    out.push(unsupported(runtime, `"ssl_ecdh_curve ${server.ssl_ecdh_curve}"`, "ignores the curve list"));
  }
  if (!server.ssl_session_tickets && !runtime.disableTickets) {
    out.push(unsupported(runtime, "\"ssl_session_tickets off\"", "always issues session tickets"));
  }
  if (server.ssl_protocols.every((p) => !hasProtocol(runtime, p))) {
    out.push(unsupported(runtime, `"ssl_protocols ${server.ssl_protocols.join(" ")}"`, "has none of these protocol versions"));
  }
  for (const [name, value] of server.ssl_conf_command) {
    if (!expressible(name, value, runtime, server)) {
      out.push(`"ssl_conf_command ${name} ${value}" is not supported on ${runtime.name}: node:tls on ` +
        `${runtime.library} can express only ${supportedConfCommands(runtime).join(", ")}`);
    }
  }
  return out;
}

/** Whether the runtime can apply the command; a file it cannot read is buildServerTls's to report. */
function expressible(name: string, value: string, runtime: TlsRuntime, server: EffectiveServer): boolean {
  try {
    return confCommand(name, value, runtime, server) !== undefined;
  } catch {
    return true;
  }
}

/** The ssl_conf_command names this runtime applies. */
function supportedConfCommands(runtime: TlsRuntime = tlsRuntime()): string[] {
  const names = ["MinProtocol", "MaxProtocol", "Certificate", "PrivateKey", "Options SessionTicket"];
  if (runtime.disableTickets) names.push("Options -SessionTicket");
  if (runtime.cipherList) names.push("CipherString");
  if (runtime.ecdhCurves) names.push("Groups", "Curves");
  if (runtime.serverCipherPreference) names.push("Options ServerPreference", "Options -ServerPreference");
  return names;
}

/**
 * Everything wrong with the server's TLS settings on this runtime (its client side;
 * upstream/tls_out.ts checks the proxy_ssl_* ones): files that cannot be
 * loaded, missing CAs, and settings the runtime would ignore, each a ConfigError at the
 * server's place. Empty when the server needs no TLS or all is well.
 * @example for (const s of effectiveServers(config)) problems.push(...checkTlsConfig(s));
 */
export function checkTlsConfig(server: EffectiveServer, runtime: TlsRuntime = tlsRuntime()): ConfigError[] {
  const at = server.source;
  if (!serverUsesTls(server)) return [];
  const problems: ConfigError[] = [];
  try {
    buildServerTls(server, runtime);
  } catch (err) {
    problems.push(tlsConfigError(err, server));
  }
  if (server.ssl_verify_client !== "off" && server.ssl_verify_client !== "optional_no_ca" &&
    !server.ssl_client_certificate && !server.ssl_trusted_certificate) {
    problems.push(new ConfigError("tls_no_client_ca", "no ssl_client_certificate or ssl_trusted_certificate for ssl_verify_client", at));
  }
  problems.push(...runtimeProblems(server, runtime).map((p) => new ConfigError("tls_unsupported", p, at)));
  return problems;
}

/**
 * What loading a server's TLS files threw, as the ConfigError at the server's place: the
 * loaders do not know where they are (a ValueError with its code); anything else the
 * TLS library refused (a key that does not match its certificate) is a file problem too.
 */
export function tlsConfigError(err: unknown, server: EffectiveServer): ConfigError {
  if (err instanceof ConfigError) return err;
  return new ConfigError(err instanceof ValueError ? err.code : "tls_file", (err as Error).message, server.source);
}

/**
 * Settings that are accepted but work differently from nginx on this runtime; for a
 * warning at startup, not a refusal.
 */
export function tlsConfigWarnings(server: EffectiveServer, runtime: TlsRuntime = tlsRuntime()): string[] {
  if (!serverUsesTls(server)) return [];
  const out: string[] = [];
  // As with nginx on an OpenSSL without them: what cannot be offered is not, the rest works.
  const missing = server.ssl_protocols.filter((p) => !hasProtocol(runtime, p));
  if (missing.length && missing.length < server.ssl_protocols.length) {
    out.push(unsupported(runtime, `"ssl_protocols ${missing.join(" ")}"`, "has no such protocol versions") + ", ignored");
  }
  if (server.ssl_dhparam && !runtime.dhParams) {
    out.push(unsupported(runtime, "\"ssl_dhparam\"", "has no DHE cipher suites") + ", ignored");
  }
  if (server.ssl_session_ticket_key.length && !runtime.ticketKeys) {
    out.push(`"ssl_session_ticket_key" files are checked but not used on ${runtime.name}: tickets are encrypted ` +
      `with a random per-process key, so sessions resume only on the same process`);
  }
  if (server.ssl_session_cache.mode === "cache" && !runtime.sessionIdCache && !server.ssl_session_tickets) {
    out.push(`"ssl_session_cache" has no session-id cache on ${runtime.name}: sessions resume through tickets only`);
  }
  return out.map((w) => formatAt(w, server.source));
}
