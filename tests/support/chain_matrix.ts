/**
 * Certificate chains good and bad, made with `openssl ca` in a temp dir, and OpenSSL's
 * verdict on each one as nginx gets it: an `openssl s_server` verifying the chain an
 * `openssl s_client` presents (libssl's "SSL client" purpose, a verify callback that goes
 * on after every error, the last error reported), with `openssl verify` for a second verdict.
 */
import { execFileSync, spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { tempDir } from "./temp_dir.ts";

/** X.509v3 extension lines (openssl config syntax) per kind of certificate. */
export const EXT = {
  root: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign",
  ca: "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign",
  client: "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=clientAuth",
};

export interface IssueOptions {
  /** Issuer's name; absent = self-signed. */
  issuer?: string;
  /** The subject's CN when it differs from the file name. */
  cn?: string;
  /** Extension lines; key identifiers are added unless noKeyIds. */
  ext: string;
  noKeyIds?: boolean;
  /** Validity relative to now, in hours (default -1 .. +240). */
  fromHours?: number;
  toHours?: number;
}

/** The case of one chain: who presents what, and how the server is set up. */
export interface ChainCase {
  title: string;
  leaf: string;
  /** Intermediates the client sends after its certificate. */
  chain?: string[];
  /** ssl_client_certificate contents. */
  anchors: string[];
  /** ssl_verify_depth (nginx default 1). */
  depth?: number;
  /** CAs whose CRLs form ssl_crl. */
  crls?: string[];
}

function stamp(hours: number): string {
  return new Date(Date.now() + hours * 3600_000).toISOString().replace(/[-:T]/g, "").slice(0, 14) + "Z";
}

export class ChainFactory {
  readonly dir = tempDir("mailproxy-chains-");

  file(name: string, ext: string): string {
    return path.join(this.dir, `${name}.${ext}`);
  }

  private openssl(...args: string[]): void {
    execFileSync("openssl", args, { cwd: this.dir, stdio: "pipe" });
  }

  /** The `openssl ca` config of `name` as an issuer, with its own database. */
  private config(name: string): string {
    const db = path.join(this.dir, `${name}.db`);
    if (!fs.existsSync(db)) {
      fs.mkdirSync(db);
      fs.writeFileSync(path.join(db, "index.txt"), "");
      fs.writeFileSync(path.join(db, "serial"), `10${crypto.randomBytes(7).toString("hex")}\n`);
      fs.writeFileSync(path.join(db, "crlnumber"), "01\n");
      fs.writeFileSync(this.file(name, "cnf"), `[ca]\ndefault_ca = d\n[d]\ndatabase = ${db}/index.txt\n` +
        `new_certs_dir = ${db}\nserial = ${db}/serial\ncrlnumber = ${db}/crlnumber\ndefault_md = sha256\n` +
        `policy = p\nunique_subject = no\ndefault_crl_days = 7\n[p]\ncommonName = supplied\n`);
    }
    return this.file(name, "cnf");
  }

  /** A P-256 key and a certificate CN=<name> for it. */
  issue(name: string, o: IssueOptions): void {
    this.openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", this.file(name, "key"));
    this.openssl("req", "-new", "-key", this.file(name, "key"), "-subj", `/CN=${o.cn ?? name}`, "-out", this.file(name, "csr"));
    const ids = o.noKeyIds ? "" : "\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid:always";
    fs.writeFileSync(this.file(name, "ext"), `${o.ext}${ids}\n`);
    const issuer = o.issuer ?? name;
    this.openssl("ca", "-batch", "-notext", "-config", this.config(issuer), "-keyfile", this.file(issuer, "key"),
      ...(o.issuer ? ["-cert", this.file(issuer, "pem")] : ["-selfsign"]),
      "-in", this.file(name, "csr"), "-out", this.file(name, "pem"), "-extfile", this.file(name, "ext"),
      "-startdate", stamp(o.fromHours ?? -1), "-enddate", stamp(o.toHours ?? 240));
  }

  revoke(name: string, issuer: string): void {
    this.openssl("ca", "-config", this.config(issuer), "-keyfile", this.file(issuer, "key"), "-cert",
      this.file(issuer, "pem"), "-revoke", this.file(name, "pem"));
  }

  /** The CRL of `issuer` into `<out>.crl`; nextUpdate `hours` from now. */
  crl(issuer: string, hours = 168, out = issuer): void {
    this.openssl("ca", "-config", this.config(issuer), "-keyfile", this.file(issuer, "key"), "-cert",
      this.file(issuer, "pem"), "-gencrl", "-crl_lastupdate", stamp(Math.min(-2, hours - 1)), "-crl_nextupdate",
      stamp(hours), "-out", this.file(out, "crl"));
  }

  read(name: string, ext = "pem"): string {
    return fs.readFileSync(this.file(name, ext), "latin1");
  }

  /** Concatenate files into `<out>.pem`, for -CAfile / -untrusted / -cert_chain. */
  bundle(out: string, parts: string[]): string {
    fs.writeFileSync(this.file(out, "pem"), parts.join(""));
    return this.file(out, "pem");
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export type Verdict = "OK" | `FAILED:${string}`;

/** The files of one case for the openssl commands. */
function caseFiles(f: ChainFactory, c: ChainCase, i: number) {
  const crls = (c.crls ?? []).map((n) => f.read(n, "crl"));
  return {
    anchors: f.bundle(`case${i}-anchors`, c.anchors.map((n) => f.read(n))),
    anchorsAndCrls: f.bundle(`case${i}-store`, [...c.anchors.map((n) => f.read(n)), ...crls]),
    crls: crls.length ? f.bundle(`case${i}-crls`, crls) : undefined,
    chain: c.chain?.length ? f.bundle(`case${i}-chain`, c.chain.map((n) => f.read(n))) : undefined,
  };
}

/** `openssl verify -purpose sslclient`'s verdict: only whether it accepts the chain. */
export function opensslVerifyAccepts(f: ChainFactory, c: ChainCase, i: number): boolean {
  const files = caseFiles(f, c, i);
  const args = ["verify", "-purpose", "sslclient", "-CAfile", files.anchors, "-verify_depth", String(c.depth ?? 1)];
  if (files.chain) args.push("-untrusted", files.chain);
  if (files.crls) args.push("-crl_check_all", "-CRLfile", files.crls);
  try {
    execFileSync("openssl", [...args, f.file(c.leaf, "pem")], { stdio: "pipe" });
    return true;
  } catch {
    return false;
  }
}

/** What nginx would put in Auth-SSL-Verify for this chain, from a real libssl handshake. */
export async function libsslVerdict(f: ChainFactory, c: ChainCase, i: number): Promise<Verdict> {
  const files = caseFiles(f, c, i);
  const server = spawn("openssl", [
    "s_server", "-accept", "127.0.0.1:0", "-naccept", "1", "-cert", f.file("server", "pem"), "-key", f.file("server", "key"),
    "-CAfile", files.anchorsAndCrls, "-Verify", "100", "-verify_depth", String(c.depth ?? 1),
    ...(files.crls ? ["-crl_check_all"] : []),
  ], { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  const ended = new Promise<void>((resolve) => server.once("close", () => resolve()));
  const port = await new Promise<string>((resolve, reject) => {
    const take = (d: Buffer) => {
      out += d.toString("latin1");
      const m = /ACCEPT 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) resolve(m[1]);
    };
    server.stdout.on("data", take);
    server.stderr.on("data", take);
    ended.then(() => reject(new Error(`s_server ended: ${out}`)));
  });
  const timer = setTimeout(() => server.kill("SIGKILL"), 15_000);
  try {
    const client = ["s_client", "-connect", `127.0.0.1:${port}`, "-cert", f.file(c.leaf, "pem"), "-key", f.file(c.leaf, "key")];
    if (files.chain) client.push("-cert_chain", files.chain);
    await new Promise<void>((resolve) => {
      const child = spawn("openssl", client, { stdio: ["ignore", "ignore", "ignore"] });
      child.once("close", () => resolve());
    });
    server.stdin.end();
    await ended;
  } finally {
    clearTimeout(timer);
  }
  // The callback prints each certificate it is called for: no "depth=0" means no verification happened.
  if (!/^depth=0 /m.test(out)) throw new Error(`s_server verified no client certificate: ${out}`);
  const errors = [...out.matchAll(/verify error:num=\d+:(.*)/g)].map((m) => m[1].trim());
  return errors.length ? `FAILED:${errors[errors.length - 1]}` : "OK";
}
