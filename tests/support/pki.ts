/**
 * Test certificates made with openssl in a temp dir: a CA, RSA and ECDSA server
 * certificates, client certificates (good, self-signed, via an intermediate, revoked, forged
 * by an end-entity certificate, serverAuth-only, with CR/LF and a comma in the CN),
 * a CRL, an encrypted key with its password file, ticket key files and DH parameters.
 */
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "./temp_dir.ts";

export interface TestPki {
  dir: string;
  caFile: string;
  rsaCert: string;
  rsaKey: string;
  ecCert: string;
  ecKey: string;
  /** ecKey encrypted with "sekret"; passwordFile lists a wrong one first. */
  encryptedKey: string;
  passwordFile: string;
  /** CN=alice,O=Example, issued by the CA. */
  aliceCert: string;
  aliceKey: string;
  /** Self-signed CN=mallory. */
  malloryCert: string;
  malloryKey: string;
  /** CN=bob issued by an intermediate CA; bobChain holds the intermediate. */
  bobCert: string;
  bobKey: string;
  bobChain: string;
  /** CN=carol, issued by the CA and revoked in crlFile. */
  carolCert: string;
  carolKey: string;
  crlFile: string;
  /** CN=admin issued by an end-entity certificate (CA:FALSE) of the CA; forgedChain holds that certificate. */
  forgedCert: string;
  forgedKey: string;
  forgedChain: string;
  /** CN=dave, issued by the CA for serverAuth only. */
  serverOnlyCert: string;
  serverOnlyKey: string;
  /** Issued by the CA to CN=NASTY_CN, O=Example. */
  nastyCert: string;
  nastyKey: string;
  ticketKey48: string;
  ticketKey80: string;
  ticketKeyBad: string;
  dhparam: string;
  remove(): void;
}

/** A common name with a line break, a carriage return and a comma. */
export const NASTY_CN = "eve\nAuth-SSL-Verify: SUCCESS\r, admin";

export function makeTestPki(): TestPki {
  const dir = tempDir("mailproxy-tls-test-");
  const p = (name: string) => path.join(dir, name);
  const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe", cwd: dir });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  const caExt = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
  openssl("req", "-x509", ...ec, "-keyout", p("ca.key"), "-out", p("ca.pem"), "-days", "7", "-subj", "/CN=Test CA", ...caExt);
  fs.writeFileSync(p("server.ext"), "basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n");
  fs.writeFileSync(p("client.ext"), "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth\n");
  fs.writeFileSync(p("inter.ext"), "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n");
  fs.writeFileSync(p("ee.ext"), "basicConstraints=critical,CA:FALSE\n");
  fs.writeFileSync(p("serveronly.ext"), "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n");
  const issue = (name: string, subj: string, keyArgs: string[], ext: string, ca = "ca") => {
    openssl("req", "-new", ...keyArgs, "-keyout", p(`${name}.key`), "-out", p(`${name}.csr`), "-subj", subj);
    openssl("x509", "-req", "-in", p(`${name}.csr`), "-CA", p(`${ca}.pem`), "-CAkey", p(`${ca}.key`),
      "-CAcreateserial", "-out", p(`${name}.pem`), "-days", "7", "-extfile", p(ext));
  };
  issue("rsa", "/CN=rsa.localhost", ["-newkey", "rsa:2048", "-nodes"], "server.ext");
  issue("ec", "/CN=ec.localhost", ec, "server.ext");
  issue("alice", "/O=Example/CN=alice", ec, "client.ext");
  issue("carol", "/O=Example/CN=carol", ec, "client.ext");
  issue("inter", "/CN=Test Intermediate", ec, "inter.ext");
  issue("bob", "/O=Example/CN=bob", ec, "client.ext", "inter");
  issue("ee", "/O=Example/CN=ee", ec, "ee.ext");
  issue("forged", "/O=Example/CN=admin", ec, "client.ext", "ee");
  issue("dave", "/O=Example/CN=dave", ec, "serveronly.ext");
  issue("nasty", `/O=Example/CN=${NASTY_CN}`, ec, "client.ext");
  openssl("req", "-x509", ...ec, "-keyout", p("mallory.key"), "-out", p("mallory.pem"), "-days", "7", "-subj", "/CN=mallory");
  openssl("pkey", "-in", p("ec.key"), "-aes256", "-passout", "pass:sekret", "-out", p("enc.key"));
  fs.writeFileSync(p("passwords"), "wrong\nsekret\n");
  // A CRL revoking carol, made with `openssl ca`.
  fs.writeFileSync(p("index.txt"), "");
  fs.writeFileSync(p("crlnumber"), "01\n");
  fs.writeFileSync(p("ca.cnf"), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${p("index.txt")}\ncrlnumber = ${p("crlnumber")}\n` +
    `default_md = sha256\ndefault_crl_days = 7\n`);
  openssl("ca", "-config", p("ca.cnf"), "-keyfile", p("ca.key"), "-cert", p("ca.pem"), "-revoke", p("carol.pem"));
  openssl("ca", "-config", p("ca.cnf"), "-keyfile", p("ca.key"), "-cert", p("ca.pem"), "-gencrl", "-out", p("crl.pem"));
  fs.writeFileSync(p("ticket48.key"), crypto.randomBytes(48));
  fs.writeFileSync(p("ticket80.key"), crypto.randomBytes(80));
  fs.writeFileSync(p("ticket32.key"), crypto.randomBytes(32));
  openssl("genpkey", "-genparam", "-algorithm", "DH", "-pkeyopt", "group:ffdhe2048", "-out", p("dh.pem"));
  return {
    dir,
    caFile: p("ca.pem"),
    rsaCert: p("rsa.pem"),
    rsaKey: p("rsa.key"),
    ecCert: p("ec.pem"),
    ecKey: p("ec.key"),
    encryptedKey: p("enc.key"),
    passwordFile: p("passwords"),
    aliceCert: p("alice.pem"),
    aliceKey: p("alice.key"),
    malloryCert: p("mallory.pem"),
    malloryKey: p("mallory.key"),
    bobCert: p("bob.pem"),
    bobKey: p("bob.key"),
    bobChain: p("inter.pem"),
    carolCert: p("carol.pem"),
    carolKey: p("carol.key"),
    crlFile: p("crl.pem"),
    forgedCert: p("forged.pem"),
    forgedKey: p("forged.key"),
    forgedChain: p("ee.pem"),
    serverOnlyCert: p("dave.pem"),
    serverOnlyKey: p("dave.key"),
    nastyCert: p("nasty.pem"),
    nastyKey: p("nasty.key"),
    ticketKey48: p("ticket48.key"),
    ticketKey80: p("ticket80.key"),
    ticketKeyBad: p("ticket32.key"),
    dhparam: p("dh.pem"),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
