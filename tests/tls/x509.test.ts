/**
 * Certificate names and serials from the DER: the RFC 2253 text equals what OpenSSL prints
 * for nginx (`openssl x509 -subject -nameopt RFC2253`) for awkward names, the serial what
 * `openssl x509 -serial` prints, and the common name for PROXY v2 is the decoded text.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { parseCertificate } from "../../src/tls/x509.ts";
import { commonName, rfc2253 } from "../../src/tls/x509_name.ts";
import { tempDir } from "../support/temp_dir.ts";

/** `-subj` arguments (OpenSSL syntax: "/" between RDNs, "+" within one, "\" escapes). */
const SUBJECTS: Array<[string, string]> = [
  ["a comma", "/O=Example/CN=alice, jr"],
  ["a plus", "/CN=a\\+b"],
  ["quotes", '/CN=say "hi"'],
  ["a backslash", "/CN=back\\\\slash"],
  ["a line feed", "/CN=line\nbreak"],
  ["a carriage return", "/CN=car\rriage"],
  ["a leading space", "/CN= lead"],
  ["a trailing space", "/CN=trail "],
  ["a leading #", "/CN=#hash"],
  ["a lone #", "/CN=#"],
  ["a lone space", "/CN= "],
  ["semicolon and angle brackets", "/CN=x;y<z>"],
  ["an equals sign", "/CN=a=b"],
  ["control bytes and DEL", "/CN=a\x01b\x7fc\x1bd"],
  ["UTF-8", "/CN=Jürgen Ωmega 😀"],
  ["a multi-valued RDN", "/O=Example/CN=alice+UID=42"],
  ["emailAddress, DC, serialNumber, street, L, ST, C", "/DC=org/DC=example/C=DE/ST=Bavaria/L=Munich/street=Main St 1/serialNumber=1234/emailAddress=a@b.example/CN=alice"],
  ["an attribute type OpenSSL has no name for (1.2.3.4)", "/testAttribute=value/CN=alice"],
];

/** The same names encoded with the legacy string types (T61String, BMPString). */
const LEGACY_SUBJECTS: Array<[string, string]> = [
  ["a T61String", "/CN=Jürgen"],
  ["a BMPString", "/CN=Ωmega, ü"],
];

describe("certificate names in RFC 2253 form from the DER", () => {
  let dir: string;
  const openssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" }).toString("latin1");
  const key = () => path.join(dir, "key.pem");

  /** A self-signed certificate with this subject; `legacy` lets OpenSSL pick T61String/BMPString. */
  function certificate(subject: string, legacy = false): Uint8Array {
    const out = path.join(dir, `${crypto.randomUUID()}.pem`);
    openssl("req", "-x509", "-config", path.join(dir, legacy ? "legacy.cnf" : "utf8.cnf"), "-utf8", "-key", key(), "-days", "1", "-subj", subject, "-out", out);
    return new Uint8Array(new crypto.X509Certificate(fs.readFileSync(out)).raw);
  }

  function opensslSubject(der: Uint8Array): string {
    const file = path.join(dir, `${crypto.randomUUID()}.der`);
    fs.writeFileSync(file, der);
    const text = execFileSync("openssl", ["x509", "-inform", "DER", "-in", file, "-noout", "-subject", "-nameopt", "RFC2253"]);
    return Buffer.from(text).toString("latin1").replace(/^subject=/, "").replace(/\n$/, "");
  }

  before(() => {
    dir = tempDir("mailproxy-names-");
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key());
    // testAttribute is known to req only: the printing side sees a bare OID.
    for (const [file, mask] of [["utf8.cnf", "utf8only"], ["legacy.cnf", "default"]]) {
      fs.writeFileSync(path.join(dir, file), `oid_section = oids\n[oids]\ntestAttribute = 1.2.3.4\n` +
        `[req]\ndistinguished_name = dn\nstring_mask = ${mask}\n[dn]\n`);
    }
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const [what, subject] of [...SUBJECTS, ...LEGACY_SUBJECTS]) {
    test(`a name with ${what} prints as OpenSSL prints it`, () => {
      const der = certificate(subject, LEGACY_SUBJECTS.some(([, s]) => s === subject));
      const cert = parseCertificate(der);
      assert.equal(rfc2253(cert.subject), opensslSubject(der));
      assert.equal(rfc2253(cert.issuer), rfc2253(cert.subject));
    });
  }

  test("the legacy subjects really use T61String and BMPString", () => {
    const tags = LEGACY_SUBJECTS.map(([, s]) => parseCertificate(certificate(s, true)).subject[0][0].value.tag);
    assert.deepEqual(tags, [20, 30]);
  });

  test("escaped names never hold CR or LF, and the texts are what nginx sends", () => {
    assert.equal(rfc2253(parseCertificate(certificate("/testAttribute=value/CN=alice")).subject), "CN=alice,1.2.3.4=#0C0576616C7565");
    const text = rfc2253(parseCertificate(certificate("/O=Example/CN=a\r\nb, c")).subject);
    assert.equal(text, "CN=a\\0D\\0Ab\\, c,O=Example");
    assert.equal(rfc2253(parseCertificate(certificate("/CN=Jürgen")).subject), "CN=J\\C3\\BCrgen");
  });

  test("serial numbers read as OpenSSL prints them (every byte, no sign byte, \"-\" when negative)", () => {
    for (const serial of ["0x03E6E71F", "0x80FF", "0", "-5", "0x00C07AD56B846B5BFF"]) {
      const out = path.join(dir, `${crypto.randomUUID()}.pem`);
      openssl("req", "-x509", "-config", path.join(dir, "utf8.cnf"), "-key", key(), "-days", "1", "-subj", "/CN=s",
        "-set_serial", serial, "-out", out);
      const der = new Uint8Array(new crypto.X509Certificate(fs.readFileSync(out)).raw);
      assert.equal(`serial=${parseCertificate(der).serial}`, openssl("x509", "-in", out, "-noout", "-serial").trim(), serial);
    }
  });

  test("the common name is the most specific CN, decoded from any string type", () => {
    assert.equal(commonName(parseCertificate(certificate("/CN=outer/O=Example/CN=alice, jr\n")).subject), "alice, jr\n");
    assert.equal(commonName(parseCertificate(certificate("/CN=Ωmega, ü", true)).subject), "Ωmega, ü");
    assert.equal(commonName(parseCertificate(certificate("/CN=Jürgen", true)).subject), "Jürgen");
    assert.equal(commonName(parseCertificate(certificate("/O=Example")).subject), undefined);
  });
});
