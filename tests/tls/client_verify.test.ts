/**
 * verifyClientChain against OpenSSL on a matrix of good and bad chains: for each, the
 * verdict and error text equal what libssl reports to nginx (Auth-SSL-Verify), and the
 * verdict equals `openssl verify -purpose sslclient`'s.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import { type ChainCase, ChainFactory, EXT, libsslVerdict, opensslVerifyAccepts, type Verdict } from "../support/chain_matrix.ts";
import { type ClientTrust, verifyClientChain } from "../../src/tls/client_verify.ts";
import { parseCrls } from "../../src/tls/crl.ts";
import { parseCertificate } from "../../src/tls/x509.ts";

const CASES: ChainCase[] = [
  { title: "a client certificate issued by the CA", leaf: "alice", anchors: ["root"] },
  { title: "a client certificate through a CA intermediate", leaf: "bob", chain: ["inter"], anchors: ["root"] },
  { title: "an end-entity certificate (CA:FALSE) signing CN=admin", leaf: "admin", chain: ["ee"], anchors: ["root"] },
  { title: "an intermediate without basicConstraints", leaf: "nobc-leaf", chain: ["nobc"], anchors: ["root"] },
  { title: "an intermediate with keyCertSign but no basicConstraints", leaf: "kuonly-leaf", chain: ["kuonly"], anchors: ["root"] },
  { title: "a CA intermediate whose keyUsage lacks keyCertSign", leaf: "nocertsign-leaf", chain: ["nocertsign"], anchors: ["root"] },
  { title: "an intermediate with serverAuth-only extendedKeyUsage", leaf: "srvca-leaf", chain: ["srvca"], anchors: ["root"] },
  { title: "an intermediate marked only by nsCertType sslCA", leaf: "nsca-leaf", chain: ["nsca"], anchors: ["root"] },
  { title: "pathlen:0 below the top intermediate is exceeded", leaf: "deep", chain: ["inter2", "pathlen0"], anchors: ["root"], depth: 2 },
  { title: "pathlen:0 directly above the leaf is fine", leaf: "pl0-leaf", chain: ["pathlen0"], anchors: ["root"] },
  { title: "a serverAuth-only client certificate", leaf: "server-only", anchors: ["root"] },
  { title: "an anyExtendedKeyUsage client certificate", leaf: "any-eku", anchors: ["root"] },
  { title: "a client certificate without extendedKeyUsage", leaf: "no-eku", anchors: ["root"] },
  { title: "a client certificate with keyUsage keyEncipherment only", leaf: "ku-encipher", anchors: ["root"] },
  { title: "a client certificate with keyUsage keyAgreement", leaf: "ku-agree", anchors: ["root"] },
  { title: "a client certificate with nsCertType server", leaf: "ns-server", anchors: ["root"] },
  { title: "an expired intermediate", leaf: "exp-leaf", chain: ["expired-ca"], anchors: ["root"] },
  { title: "a not yet valid intermediate", leaf: "future-leaf", chain: ["future-ca"], anchors: ["root"] },
  { title: "an expired client certificate", leaf: "expired", anchors: ["root"] },
  { title: "one intermediate at ssl_verify_depth 0", leaf: "bob", chain: ["inter"], anchors: ["root"], depth: 0 },
  { title: "two intermediates at depth 1", leaf: "deep2", chain: ["inter3", "inter"], anchors: ["root"], depth: 1 },
  { title: "two intermediates at depth 2", leaf: "deep2", chain: ["inter3", "inter"], anchors: ["root"], depth: 2 },
  { title: "a revoked client certificate", leaf: "revoked", anchors: ["root"], crls: ["root"] },
  { title: "a good certificate with ssl_crl", leaf: "alice", anchors: ["root"], crls: ["root"] },
  { title: "a revoked intermediate", leaf: "rev-leaf", chain: ["revoked-ca"], anchors: ["root"], crls: ["root", "revoked-ca"] },
  { title: "an intermediate's CRL missing", leaf: "bob", chain: ["inter"], anchors: ["root"], crls: ["root"] },
  { title: "an expired CRL", leaf: "alice", anchors: ["root"], crls: ["stale"] },
  { title: "a revoked and expired certificate", leaf: "revoked-expired", anchors: ["root"], crls: ["root"] },
  { title: "a self-signed client certificate", leaf: "selfie", anchors: ["root"] },
  { title: "a self-signed client certificate that is itself trusted", leaf: "selfie", anchors: ["root", "selfie"] },
  { title: "an unknown critical extension on the client certificate", leaf: "crit-leaf", anchors: ["root"] },
  { title: "an unknown critical extension on the intermediate", leaf: "critca-leaf", chain: ["critca"], anchors: ["root"] },
  { title: "a certificate from an unknown CA", leaf: "alice", anchors: ["other-root"] },
  { title: "the intermediate missing from the presented chain", leaf: "bob", anchors: ["root"] },
  { title: "only the intermediate trusted", leaf: "bob", anchors: ["inter"] },
  { title: "a leaf signed by a different key under the CA's name", leaf: "impostor-leaf", anchors: ["root"] },
  { title: "a trust anchor with keyCertSign but no basicConstraints", leaf: "kuroot-leaf", anchors: ["kuroot"] },
  { title: "a trust anchor without extensions", leaf: "bareroot-leaf", anchors: ["bareroot"] },
  { title: "a trust anchor with CA:FALSE", leaf: "eeroot-leaf", anchors: ["eeroot"] },
  { title: "a trust anchor with serverAuth-only extendedKeyUsage", leaf: "srvroot-leaf", anchors: ["srvroot"] },
  { title: "a CA:FALSE intermediate and a serverAuth leaf", leaf: "admin-srv", chain: ["ee"], anchors: ["root"] },
  { title: "an expired trust anchor", leaf: "oldroot-leaf", anchors: ["oldroot"] },
];

/** Every certificate the cases name. */
function makeCertificates(f: ChainFactory): void {
  const client = (name: string, issuer: string, extra = "") => f.issue(name, { issuer, ext: EXT.client + extra });
  f.issue("server", { ext: EXT.root });
  for (const root of ["root", "other-root"]) f.issue(root, { ext: EXT.root });
  f.issue("inter", { issuer: "root", ext: EXT.ca });
  f.issue("inter3", { issuer: "inter", ext: EXT.ca });
  client("alice", "root");
  client("bob", "inter");
  client("deep2", "inter3");
  f.issue("ee", { issuer: "root", ext: "basicConstraints=CA:FALSE" });
  client("admin", "ee");
  f.issue("admin-srv", { issuer: "ee", ext: "extendedKeyUsage=serverAuth" });
  f.issue("nobc", { issuer: "root", ext: "subjectAltName=DNS:x" });
  client("nobc-leaf", "nobc");
  f.issue("kuonly", { issuer: "root", ext: "keyUsage=keyCertSign,cRLSign" });
  client("kuonly-leaf", "kuonly");
  f.issue("nocertsign", { issuer: "root", ext: "basicConstraints=critical,CA:TRUE\nkeyUsage=digitalSignature,cRLSign" });
  client("nocertsign-leaf", "nocertsign");
  f.issue("srvca", { issuer: "root", ext: `${EXT.ca}\nextendedKeyUsage=serverAuth` });
  client("srvca-leaf", "srvca");
  f.issue("nsca", { issuer: "root", ext: "nsCertType=sslCA" });
  client("nsca-leaf", "nsca");
  f.issue("pathlen0", { issuer: "root", ext: "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=keyCertSign" });
  f.issue("inter2", { issuer: "pathlen0", ext: EXT.ca });
  client("deep", "inter2");
  client("pl0-leaf", "pathlen0");
  f.issue("server-only", { issuer: "root", ext: "extendedKeyUsage=serverAuth" });
  f.issue("any-eku", { issuer: "root", ext: "extendedKeyUsage=anyExtendedKeyUsage" });
  f.issue("no-eku", { issuer: "root", ext: "basicConstraints=CA:FALSE" });
  f.issue("ku-encipher", { issuer: "root", ext: "keyUsage=keyEncipherment" });
  f.issue("ku-agree", { issuer: "root", ext: "keyUsage=keyAgreement" });
  f.issue("ns-server", { issuer: "root", ext: "nsCertType=server" });
  f.issue("expired-ca", { issuer: "root", ext: EXT.ca, fromHours: -48, toHours: -24 });
  client("exp-leaf", "expired-ca");
  f.issue("future-ca", { issuer: "root", ext: EXT.ca, fromHours: 24, toHours: 48 });
  client("future-leaf", "future-ca");
  f.issue("expired", { issuer: "root", ext: EXT.client, fromHours: -48, toHours: -24 });
  client("revoked", "root");
  f.issue("revoked-expired", { issuer: "root", ext: EXT.client, fromHours: -48, toHours: -24 });
  f.issue("revoked-ca", { issuer: "root", ext: EXT.ca });
  client("rev-leaf", "revoked-ca");
  for (const name of ["revoked", "revoked-expired", "revoked-ca"]) f.revoke(name, "root");
  f.crl("root");
  f.crl("revoked-ca");
  f.crl("inter");
  f.crl("root", -1, "stale");
  f.issue("selfie", { ext: EXT.client });
  client("crit-leaf", "root", "\n1.2.3.4=critical,DER:05:00");
  f.issue("critca", { issuer: "root", ext: `${EXT.ca}\n1.2.3.4=critical,DER:05:00` });
  client("critca-leaf", "critca");
  // Same name as root, another key, no key identifiers: found by name, refused by signature.
  f.issue("impostor", { cn: "root", ext: EXT.root, noKeyIds: true });
  f.issue("impostor-leaf", { issuer: "impostor", ext: EXT.client, noKeyIds: true });
  for (const [root, ext] of [["kuroot", "keyUsage=keyCertSign"], ["bareroot", "subjectAltName=DNS:x"], ["eeroot", "basicConstraints=CA:FALSE"], ["srvroot", `${EXT.root}\nextendedKeyUsage=serverAuth`]]) {
    f.issue(root, { ext });
    client(`${root}-leaf`, root);
  }
  f.issue("oldroot", { ext: EXT.root, fromHours: -48, toHours: -24 });
  client("oldroot-leaf", "oldroot");
}

describe("client certificate chains are judged as OpenSSL judges them for nginx", () => {
  let f: ChainFactory;
  before(() => {
    f = new ChainFactory();
    makeCertificates(f);
  });
  after(() => f.remove());

  const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  const der = (name: string) => pemBlocks(f.read(name)).map((b) => new Uint8Array(new crypto.X509Certificate(b).raw));

  function ours(c: ChainCase): Verdict {
    const trust: ClientTrust = {
      anchors: c.anchors.flatMap(der).map((d) => parseCertificate(d)),
      depth: c.depth ?? 1,
    };
    if (c.crls) trust.crls = c.crls.flatMap((n) => parseCrls(f.read(n, "crl")));
    const result = verifyClientChain([...der(c.leaf), ...(c.chain ?? []).flatMap(der)], trust);
    return result.ok ? "OK" : `FAILED:${result.reason}`;
  }

  CASES.forEach((c, i) => {
    test(`${c.title}: the same verdict and text as OpenSSL`, async () => {
      const expected = await libsslVerdict(f, c, i);
      assert.equal(ours(c), expected);
      assert.equal(opensslVerifyAccepts(f, c, i), expected === "OK", "openssl verify's verdict");
    });
  });
});
