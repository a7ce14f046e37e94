/**
 * Builds the server-side TLS options of a `server {}` from its ssl_* directives.
 * Runtime differences (what Bun or Deno cannot express) stay in ../tls/runtime.ts.
 */
import fs from "node:fs";
import tls from "node:tls";
import crypto from "node:crypto";
import type { EffectiveServer } from "../config/model.ts";

/** Whether the server needs TLS at all (a `listen ... ssl` or starttls on|only). */
export function serverUsesTls(server: EffectiveServer): boolean {
  return server.starttls !== "off" || server.listen.some((l) => l.ssl);
}

function readPem(file: string, what: string): string {
  if (file.startsWith("data:")) return file.slice(5);
  try {
    return fs.readFileSync(file, "latin1");
  } catch (err) {
    throw new Error(`cannot load ${what} "${file}": ${(err as Error).message}`);
  }
}

const VERSION_ORDER = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"] as const;

/** Options for `new tls.TLSSocket(socket, { isServer: true, ...options })`. */
export function serverTlsOptions(server: EffectiveServer): tls.TlsOptions {
  const passphrases = server.ssl_password_file
    ? readPem(server.ssl_password_file, "password file").split(/\r?\n/).filter((l) => l.length > 0)
    : [];
  const certs = server.ssl_certificate.map((f) => readPem(f, "certificate"));
  const keys = server.ssl_certificate_key.map((f, i) => {
    const pem = readPem(f, "certificate key");
    for (const passphrase of passphrases.length ? passphrases : [undefined]) {
      try {
        crypto.createPrivateKey({ key: pem, passphrase });
        return { pem, passphrase } as tls.KeyObject;
      } catch {
        // try the next passphrase
      }
    }
    throw new Error(`cannot load certificate key "${server.ssl_certificate_key[i]}": bad key or passphrase`);
  });
  const versions = VERSION_ORDER.filter((v) => server.ssl_protocols.includes(v));
  const verify = server.ssl_verify_client !== "off";
  const ca = [server.ssl_client_certificate, server.ssl_trusted_certificate]
    .filter((f): f is string => !!f)
    .map((f) => readPem(f, "certificate"));
  const options: tls.TlsOptions = {
    cert: certs.length === 1 ? certs[0] : certs,
    key: keys,
    ciphers: server.ssl_ciphers,
    honorCipherOrder: server.ssl_prefer_server_ciphers,
    ecdhCurve: server.ssl_ecdh_curve,
    minVersion: versions[0] ?? "TLSv1.2",
    maxVersion: versions[versions.length - 1] ?? "TLSv1.3",
    ALPNProtocols: [server.protocol],
    requestCert: verify,
    rejectUnauthorized: false,
    sessionTimeout: Math.floor(server.ssl_session_timeout / 1000),
    ...(ca.length ? { ca } : {}),
    ...(server.ssl_dhparam ? { dhparam: readPem(server.ssl_dhparam, "dhparam") } : {}),
    ...(server.ssl_crl ? { crl: readPem(server.ssl_crl, "CRL") } : {}),
  };
  return options;
}
