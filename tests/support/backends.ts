/**
 * Real mail backends for integration tests: Debian's Dovecot (IMAP, POP3) and Postfix
 * (SMTP with XCLIENT), each started from its own temp dir on free 127.0.0.1 ports and
 * stopped by PID. Nothing here reads or writes /etc/dovecot or /etc/postfix, and no
 * system service is involved (.ci/install-deps installs the packages).
 *
 * Each daemon runs under a tiny Python supervisor (SUPERVISOR below) because daemons
 * fork helpers that outlive their master by a moment; on this machine PID 1 reaps
 * orphans late, so without a subreaper `ps` shows leftovers after stop().
 *
 * Example:
 *   const dovecot = await startDovecot({ users: [{ user: "alice", password: "secret",
 *     messages: ["Subject: hi\r\n\r\nhello\r\n"] }] });
 *   try { ... connect to dovecot.imapPort ... } finally { await dovecot.stop(); }
 */
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.ts";

export interface DovecotUser {
  user: string;
  /** Binary string (latin1): stored byte-exact, so any bytes but NUL work. */
  password: string;
  /** RFC 5322 texts put in INBOX, in order (message 1 first), stored byte-exact. */
  messages?: string[];
}

export interface DovecotOptions {
  users: DovecotUser[];
  /** SASL mechanisms Dovecot offers; default ["plain", "login"]. */
  authMechanisms?: string[];
  /** Listeners expect a PROXY protocol (v1 or v2) header from 127.0.0.0/8 first; the
   *  log's `rip=` then shows the address it carried. */
  proxyProtocol?: boolean;
  /** Extra dovecot.conf text appended at the end. */
  extraConf?: string;
  /** Also run Pigeonhole: ManageSieve (`sievePort`) and LMTP (`lmtpPort`) with the sieve
   *  plugin, so a script stored over ManageSieve files mail delivered over LMTP. */
  sieve?: boolean;
  /** A mail directory shared with other instances (a cluster on shared storage): the
   *  users' maildirs go there instead of this instance's own dir, and stop() leaves it. */
  mailRoot?: string;
}

export interface DovecotBackend {
  imapPort: number;
  pop3Port: number;
  /** Only with `sieve: true`; 0 otherwise. */
  sievePort: number;
  lmtpPort: number;
  dir: string;
  /** Dovecot's own log (logins, errors): useful in assertion messages. */
  log(): Promise<string>;
  stop(): Promise<void>;
}

export interface PostfixOptions {
  /** Networks allowed to send XCLIENT; default "127.0.0.0/8"; "" turns XCLIENT off. */
  xclientHosts?: string;
  /** Extra main.cf parameters, applied last (e.g. restrictions). Default: none, so any
   *  client may send to any address and nothing (no AUTH, no TLS) is required. */
  mainCf?: Record<string, string>;
  /** The listener expects a PROXY protocol (v1 or v2) header first
   *  (smtpd_upstream_proxy_protocol = haproxy); the log's "connect from" shows its address. */
  proxyProtocol?: boolean;
}

export interface PostfixBackend {
  port: number;
  dir: string;
  /** Messages delivered so far, oldest first, as binary strings. Waits (up to 15 s) until
   *  the queue has no message in flight, so mail accepted with 250 before the call is in. */
  received(): Promise<string[]>;
  /** Postfix's own log (smtpd connect/disconnect lines show XCLIENT's effect). */
  log(): Promise<string>;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------
// Dovecot

const MAIL_USER = "mail"; // Debian's unprivileged mail account owns the test maildirs.

export async function startDovecot(opts: DovecotOptions): Promise<DovecotBackend> {
  const version = dovecotVersion();
  const dir = makeTempDir("mailproxy-dovecot-");
  try {
    const [imapPort, pop3Port] = [await freePort(), await freePort()];
    const [sievePort, lmtpPort] = opts.sieve ? [await freePort(), await freePort()] : [0, 0];
    for (const sub of ["base", "state", "mail"]) mkdirSync(join(dir, sub));
    const mailIds = accountIds(MAIL_USER);
    writeFileSync(join(dir, "users"), opts.users.map(passwdFileLine).join(""), { mode: 0o644 });
    const mail = opts.mailRoot ?? join(dir, "mail");
    for (const user of opts.users) seedMaildir(join(mail, user.user), user.messages ?? []);
    chownTree(mail, mailIds.uid, mailIds.gid);
    if (opts.sieve) {
      // Scripts outside the maildirs: Maildir++ would take `.dovecot.sieve` for a folder.
      mkdirSync(join(dir, "sieve"));
      chownTree(join(dir, "sieve"), mailIds.uid, mailIds.gid);
    }

    const conf = join(dir, "dovecot.conf");
    const settings: DovecotSettings = {
      dir,
      mail,
      imapPort,
      pop3Port,
      mechanisms: opts.authMechanisms ?? ["plain", "login"],
      haproxy: opts.proxyProtocol ? "yes" : "no",
    };
    const v23 = version.major === 2 && version.minor < 4;
    let text = v23 ? dovecot23Conf(settings) : dovecot24Conf(settings);
    if (opts.sieve) text = text.replace("protocols = imap pop3", "protocols = imap pop3 sieve lmtp") + sieveConf(dir, sievePort, lmtpPort, v23);
    writeFileSync(conf, text + (opts.extraConf ?? "") + "\n");

    const daemon = superviseDaemon("dovecot", dir, ["dovecot", "-F", "-c", conf]);
    const logFile = join(dir, "dovecot.log");
    const preamble = opts.proxyProtocol ? PROBE_PROXY_HEADER : "";
    await waitForGreeting(imapPort, "* OK", preamble, daemon, () => readText(logFile));
    await waitForGreeting(pop3Port, "+OK", preamble, daemon, () => readText(logFile));
    if (opts.sieve) {
      await waitForGreeting(sievePort, '"IMPLEMENTATION"', preamble, daemon, () => readText(logFile));
      await waitForGreeting(lmtpPort, "220 ", "", daemon, () => readText(logFile));
    }
    return {
      imapPort,
      pop3Port,
      sievePort,
      lmtpPort,
      dir,
      log: async () => readText(logFile),
      stop: async () => {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

interface Version { major: number; minor: number; text: string }

function dovecotVersion(): Version {
  const text = execFileSync("dovecot", ["--version"], { encoding: "utf8" }).trim();
  const match = /^(\d+)\.(\d+)/.exec(text);
  if (!match) throw new Error(`Cannot read Dovecot's version from "${text}"`);
  return { major: Number(match[1]), minor: Number(match[2]), text };
}

interface DovecotSettings { dir: string; mail: string; imapPort: number; pop3Port: number; mechanisms: string[]; haproxy: "yes" | "no" }

/** Dovecot 2.3 (Debian 12): standalone config, cleartext logins allowed without TLS. */
function dovecot23Conf(s: DovecotSettings): string {
  return `# Written by tests/support/backends.ts for one test run.
base_dir = ${s.dir}/base
state_dir = ${s.dir}/state
log_path = ${s.dir}/dovecot.log
info_log_path = ${s.dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = ${s.mechanisms.join(" ")}
auth_username_format = %u
login_trusted_networks = 127.0.0.0/8
haproxy_trusted_networks = 127.0.0.0/8
# Tests log in wrongly on purpose: no 2 s failure delay, no growing per-IP penalty.
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = ${MAIL_USER}
mail_gid = ${MAIL_USER}
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:${s.mail}/%u
passdb {
  driver = passwd-file
  args = username_format=%u ${s.dir}/users
}
userdb {
  driver = static
  args = uid=${MAIL_USER} gid=${MAIL_USER} home=${s.mail}/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${s.imapPort}
    haproxy = ${s.haproxy}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${s.pop3Port}
    haproxy = ${s.haproxy}
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0666
  }
  unix_listener stats-writer {
    mode = 0666
  }
}
`;
}

/** Dovecot 2.4 (Debian 13) renamed most settings. Untested here: Debian 12 ships 2.3. */
function dovecot24Conf(s: DovecotSettings): string {
  return `# Written by tests/support/backends.ts for one test run.
dovecot_config_version = 2.4.0
dovecot_storage_version = 2.4.0
base_dir = ${s.dir}/base
state_dir = ${s.dir}/state
log_path = ${s.dir}/dovecot.log
info_log_path = ${s.dir}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = no
auth_allow_cleartext = yes
auth_mechanisms = ${s.mechanisms.join(" ")}
auth_username_format = %{user}
login_trusted_networks = 127.0.0.0/8
haproxy_trusted_networks = 127.0.0.0/8
# Tests log in wrongly on purpose: no 2 s failure delay, no growing per-IP penalty.
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_uid = ${MAIL_USER}
mail_gid = ${MAIL_USER}
first_valid_uid = 1
first_valid_gid = 1
mail_driver = maildir
mail_path = ${s.mail}/%{user}
passdb passwd-file {
  passwd_file_path = ${s.dir}/users
}
userdb static {
  fields {
    uid = ${MAIL_USER}
    gid = ${MAIL_USER}
    home = ${s.mail}/%{user}
  }
}
service imap-login {
  inet_listener imap {
    listen = 127.0.0.1
    port = ${s.imapPort}
    haproxy = ${s.haproxy}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    listen = 127.0.0.1
    port = ${s.pop3Port}
    haproxy = ${s.haproxy}
  }
  inet_listener pop3s {
    port = 0
  }
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`;
}

/**
 * Pigeonhole for one test run: ManageSieve keeps each user's scripts in `sieve/<user>/`,
 * the active one linked from `sieve/<user>.active`, and LMTP runs that script at delivery.
 * (The 2.4 spelling is untested here, like dovecot24Conf.)
 */
function sieveConf(dir: string, sievePort: number, lmtpPort: number, v23: boolean): string {
  const listen = v23 ? "address" : "listen";
  const location = v23
    ? `plugin {\n  sieve = file:${dir}/sieve/%u;active=${dir}/sieve/%u.active\n}\n`
    : `sieve_script personal {\n  driver = file\n  path = ${dir}/sieve/%{user}\n  active_path = ${dir}/sieve/%{user}.active\n}\n`;
  const plugins = v23 ? "mail_plugins = $mail_plugins sieve" : "mail_plugins {\n    sieve = yes\n  }";
  return `${location}protocol lmtp {
  ${plugins}
}
service managesieve-login {
  inet_listener sieve {
    ${listen} = 127.0.0.1
    port = ${sievePort}
  }
}
service lmtp {
  inet_listener lmtp {
    ${listen} = 127.0.0.1
    port = ${lmtpPort}
  }
}
postmaster_address = postmaster@backend.test
`;
}

/** `{PLAIN.b64}` keeps any password byte-exact (a raw ':' would end the field). */
function passwdFileLine(user: DovecotUser): string {
  if (/[:\r\n\0]/.test(user.user)) throw new Error(`Cannot store user "${user.user}" in a passwd-file`);
  return `${user.user}:{PLAIN.b64}${Buffer.from(user.password, "latin1").toString("base64")}\n`;
}

function seedMaildir(maildir: string, messages: string[]): void {
  for (const sub of ["cur", "new", "tmp"]) mkdirSync(join(maildir, sub), { recursive: true });
  // Maildir names sort by their leading time; Dovecot numbers new mail in that order.
  messages.forEach((message, index) => {
    const name = `${1000000000 + index}.M${index}P${process.pid}.mailproxy-test`;
    writeFileSync(join(maildir, "new", name), Buffer.from(message, "latin1"));
  });
}

// ---------------------------------------------------------------------------------------
// Postfix

const POSTFIX_DAEMONS = "/usr/lib/postfix/sbin";

/**
 * A Postfix of its own; a master that exits before greeting (its port taken between our
 * check and its bind, which Postfix's log does not even record) is tried again on a new port.
 */
export async function startPostfix(opts: PostfixOptions = {}): Promise<PostfixBackend> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startPostfixOnce(opts);
    } catch (err) {
      if (attempt === 3 || !/^postfix on 127\.0\.0\.1:\d+ exited/.test((err as Error).message)) throw err;
    }
  }
}

async function startPostfixOnce(opts: PostfixOptions): Promise<PostfixBackend> {
  const dir = makeTempDir("mailproxy-postfix-");
  try {
    const port = await freePort();
    const owner = accountIds("postfix");
    for (const sub of ["conf", "queue", "data", "mail"]) mkdirSync(join(dir, sub));
    // Postfix checks ownership: data and delivery dirs belong to its mail owner.
    chownSync(join(dir, "data"), owner.uid, owner.gid);
    chownSync(join(dir, "mail"), owner.uid, owner.gid);
    const conf = join(dir, "conf");
    writeFileSync(join(conf, "main.cf"), postfixMainCf(dir, owner, opts));
    writeFileSync(join(conf, "master.cf"), postfixMasterCf(port, opts.proxyProtocol ?? false));

    // `check` creates the queue tree with the right owners and modes (post-install).
    const logFile = join(dir, "postfix.log");
    try {
      execFileSync("postfix", ["-c", conf, "check"], { stdio: "pipe" });
    } catch (error) {
      throw new Error(`"postfix -c ${conf} check" failed: ${String(error)}\n${readText(logFile)}`);
    }
    // The master in the foreground (-s keeps it attached), so its PID is the one we hold;
    // it passes "-c" on to every Postfix process it starts.
    const daemon = superviseDaemon("postfix", dir, [join(POSTFIX_DAEMONS, "master"), "-c", conf, "-s"]);
    const preamble = opts.proxyProtocol ? PROBE_PROXY_HEADER : "";
    await waitForGreeting(port, "220 ", preamble, daemon, () => readText(logFile));
    return {
      port,
      dir,
      received: async () => {
        await waitForEmptyQueue(join(dir, "queue"));
        return readMaildir(join(dir, "mail", "inbox"));
      },
      log: async () => readText(logFile),
      stop: async () => {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function postfixMainCf(dir: string, owner: { uid: number; gid: number }, opts: PostfixOptions): string {
  const params: Record<string, string> = {
    compatibility_level: "3.6",
    config_directory: `${dir}/conf`,
    queue_directory: `${dir}/queue`,
    data_directory: `${dir}/data`,
    mail_owner: "postfix",
    setgid_group: "postdrop",
    // Postfix only writes a log file under an allowed prefix, and says nothing if not.
    maillog_file: `${dir}/postfix.log`,
    maillog_file_prefixes: dir,
    myhostname: "backend.test",
    mydomain: "backend.test",
    myorigin: "backend.test",
    mydestination: "",
    relay_domains: "",
    mynetworks: "127.0.0.0/8",
    inet_interfaces: "127.0.0.1",
    inet_protocols: "ipv4",
    smtpd_banner: "$myhostname ESMTP test backend",
    // No DNS here: a reverse lookup of a client would only add delay.
    smtpd_peername_lookup: "no",
    smtp_host_lookup: "native",
    smtpd_authorized_xclient_hosts: opts.xclientHosts ?? "127.0.0.0/8",
    // Every recipient, any domain, lands in one maildir that received() reads.
    virtual_mailbox_domains: "static:all",
    virtual_mailbox_base: `${dir}/mail`,
    virtual_mailbox_maps: "static:inbox/",
    virtual_uid_maps: `static:${owner.uid}`,
    virtual_gid_maps: `static:${owner.gid}`,
    virtual_minimum_uid: "1",
    alias_maps: "",
    alias_database: "",
    local_recipient_maps: "",
    biff: "no",
    ...opts.mainCf,
  };
  return Object.entries(params).map(([name, value]) => `${name} = ${value}\n`).join("");
}

function postfixMasterCf(port: number, proxyProtocol: boolean): string {
  // Only what receiving and virtual delivery need; chroot off (no chroot tree in a temp dir).
  const smtpdArgs = proxyProtocol ? " -o smtpd_upstream_proxy_protocol=haproxy" : "";
  return `127.0.0.1:${port} inet n - n - - smtpd${smtpdArgs}
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;
}

/** Mail accepted with 250 is in incoming/ at once; it is delivered once active/ is empty. */
async function waitForEmptyQueue(queueDir: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const inFlight = ["maildrop", "incoming", "active"].some((sub) => countFiles(join(queueDir, sub)) > 0);
    if (!inFlight) return;
    await sleep(50);
  }
}

function readMaildir(maildir: string): string[] {
  const files: Array<{ path: string; mtime: number; name: string }> = [];
  for (const sub of ["new", "cur"]) {
    let names: string[] = [];
    try {
      names = readdirSync(join(maildir, sub));
    } catch {
      continue; // nothing delivered yet: Postfix creates the maildir on first delivery
    }
    for (const name of names) {
      const path = join(maildir, sub, name);
      files.push({ path, mtime: statSync(path).mtimeMs, name });
    }
  }
  files.sort((a, b) => a.mtime - b.mtime || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return files.map((file) => readFileSync(file.path).toString("latin1"));
}

// ---------------------------------------------------------------------------------------
// TLS material

export interface TestCertificate {
  dir: string;
  /** The test CA: give it to clients (curl --cacert, cafile=, tls ca). */
  caFile: string;
  /** Server certificate for "localhost" and 127.0.0.1, signed by the CA. */
  certFile: string;
  keyFile: string;
  ca: string;
  cert: string;
  key: string;
  remove(): void;
}

/**
 * A fresh CA and a server certificate signed by it, made with openssl in a temp dir.
 * A real CA rather than one self-signed leaf, because rustls (Deno) refuses a CA
 * certificate used as a server's.
 */
export function makeTestCertificate(opts: { commonName?: string; altNames?: string[] } = {}): TestCertificate {
  const dir = makeTempDir("mailproxy-tls-");
  const path = (name: string) => join(dir, name);
  const commonName = opts.commonName ?? "localhost";
  const altNames = opts.altNames ?? ["DNS:localhost", "IP:127.0.0.1"];
  const openssl = (args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });
  try {
    const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    openssl(["req", "-x509", ...ecKey, "-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "7",
      "-subj", "/CN=mailproxy test CA",
      "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(["req", "-new", ...ecKey, "-keyout", path("key.pem"), "-out", path("server.csr"),
      "-subj", `/CN=${commonName}`]);
    writeFileSync(path("server.ext"),
      `basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n` +
      `extendedKeyUsage=serverAuth\nsubjectAltName=${altNames.join(",")}\n`);
    openssl(["x509", "-req", "-in", path("server.csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"),
      "-CAcreateserial", "-out", path("cert.pem"), "-days", "7", "-extfile", path("server.ext")]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`Cannot make a test certificate with openssl: ${String(error)}`);
  }
  return {
    dir,
    caFile: path("ca.pem"),
    certFile: path("cert.pem"),
    keyFile: path("key.pem"),
    ca: readFileSync(path("ca.pem"), "utf8"),
    cert: readFileSync(path("cert.pem"), "utf8"),
    key: readFileSync(path("key.pem"), "utf8"),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

// ---------------------------------------------------------------------------------------
// Process supervision

/**
 * Runs argv as a child, becomes the subreaper of everything it forks, and on SIGTERM (or
 * when its stdin closes: the test process died) stops it, then ends every leftover helper
 * and reaps it before exiting. Exit code: the daemon's. When the test process died, it
 * also removes the daemon's temp dir (argv[1]), since nobody else will.
 */
const SUPERVISOR = String.raw`
import ctypes, os, shutil, signal, sys, threading, time
ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
orphan_dir = sys.argv[1]
argv = sys.argv[2:]
orphaned = False
main = os.fork()
if main == 0:
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)
    os.execvp(argv[0], argv)

def stop(*_):
    try:
        os.kill(main, signal.SIGTERM)
    except ProcessLookupError:
        pass

def children():
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == me and fields[0] != "Z":
            yield int(entry)

def sweep(sig):
    for pid in children():
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass

def insist():
    time.sleep(3)
    while True:
        sweep(signal.SIGKILL)
        time.sleep(0.5)

def watch_stdin():
    global orphaned
    while os.read(0, 4096):
        pass
    orphaned = True
    stop()

signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
threading.Thread(target=watch_stdin, daemon=True).start()
status = 0
while True:
    try:
        pid, raw = os.waitpid(-1, 0)
    except ChildProcessError:
        break
    if pid == main:
        code = os.waitstatus_to_exitcode(raw)
        status = code if code >= 0 else 128 - code
        sweep(signal.SIGTERM)
        threading.Thread(target=insist, daemon=True).start()
if orphaned and orphan_dir:
    shutil.rmtree(orphan_dir, ignore_errors=True)
sys.exit(status)
`;

interface SupervisedDaemon {
  name: string;
  /** Resolves once the supervisor (and so every process of the daemon) is gone. */
  exited: Promise<number | null>;
  /** The daemon's stdout and stderr so far (its own log files say more). */
  output(): string;
  stop(): Promise<void>;
}

function superviseDaemon(name: string, dir: string, argv: string[]): SupervisedDaemon {
  const child: ChildProcess = spawn(pythonPath(), ["-c", SUPERVISOR, dir, ...argv], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("latin1")).slice(-65536);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  child.stdin?.on("error", () => {}); // EPIPE if the supervisor is already gone
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => resolve(code));
    child.once("error", (error) => {
      keep(Buffer.from(String(error)));
      resolve(null);
    });
  });
  return {
    name,
    exited,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGTERM");
        } catch {
          // already gone
        }
      }
      await exited;
      child.stdin?.destroy();
      child.stdout?.destroy();
      child.stderr?.destroy();
    },
  };
}

/** What readiness probes send to a PROXY-protocol listener before its greeting. */
const PROBE_PROXY_HEADER = "PROXY TCP4 127.0.0.1 127.0.0.1 1 1\r\n";

/** Waits until the port answers with the expected greeting; fails early if the daemon died. */
async function waitForGreeting(
  port: number,
  prefix: string,
  preamble: string,
  daemon: SupervisedDaemon,
  log: () => string,
): Promise<void> {
  let dead = false;
  void daemon.exited.then(() => (dead = true));
  const deadline = Date.now() + 20_000;
  let last = "";
  while (Date.now() < deadline && !dead) {
    last = await readGreeting(port, preamble);
    if (last.startsWith(prefix)) return;
    await sleep(100);
  }
  const why = dead ? "exited" : `did not greet with "${prefix}" within 20 s (last: "${last}")`;
  await daemon.stop();
  throw new Error(`${daemon.name} on 127.0.0.1:${port} ${why}\n${daemon.output()}\n${log()}`);
}

function readGreeting(port: number, preamble: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port }, () => {
      if (preamble) socket.write(Buffer.from(preamble, "latin1"));
    });
    let data = "";
    const done = (line: string) => {
      socket.destroy();
      resolve(line);
    };
    socket.setTimeout(3000, () => done(data));
    socket.on("error", (error) => done(`(${(error as NodeJS.ErrnoException).code ?? error.message})`));
    socket.on("data", (chunk) => {
      data += chunk.toString("latin1");
      const end = data.indexOf("\r\n");
      if (end >= 0) done(data.slice(0, end));
    });
    socket.on("end", () => done(data));
  });
}

// ---------------------------------------------------------------------------------------
// Small helpers

/** Debian's python3 when present (pyenv shims may lack ctypes details); else PATH's. */
export function pythonPath(): string {
  try {
    statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
}

/** A root-owned temp dir the daemons' unprivileged users can traverse. */
function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  return dir;
}

function accountIds(name: string): { uid: number; gid: number } {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const fields = line.split(":");
    if (fields[0] === name) return { uid: Number(fields[2]), gid: Number(fields[3]) };
  }
  throw new Error(`Cannot find user "${name}" in /etc/passwd (run .ci/install-deps)`);
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!statSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

function countFiles(dir: string): number {
  let count = 0;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const path = join(dir, name);
    count += statSync(path, { throwIfNoEntry: false })?.isDirectory() ? countFiles(path) : 1;
  }
  return count;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "latin1");
  } catch {
    return "";
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
