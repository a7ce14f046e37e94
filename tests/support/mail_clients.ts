/**
 * Real mail clients run as child processes: Python's imaplib/poplib/smtplib, curl and
 * swaks. Each helper resolves with what a user would see (stdout, stderr, exit code) and
 * never rejects for a client failure: tests assert on the result.
 *
 * Output is decoded as latin1 (one char per byte), matching mailproxy's binary strings.
 *
 * Example:
 *   const result = await pythonImapFetch({ host: "127.0.0.1", port, user: "alice", password: "secret" });
 *   assert.equal(result.code, 0, result.stderr);
 */
import { spawn } from "node:child_process";
import { pythonPath } from "./backends.ts";

export interface ClientResult {
  /** Exit code; null when killed (timeout). */
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions {
  /** Written to the client's stdin, then stdin is closed. */
  input?: string;
  /** Default 30 s; the client is then killed and timedOut is true. */
  timeoutMs?: number;
  env?: Record<string, string>;
}

/** Runs any program; the building block of the helpers below. */
export function run(command: string, args: string[], opts: RunOptions = {}): Promise<ClientResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ["pipe", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    let stdout = "";
    let stderr = "";
    let timedOut = false;
    child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString("latin1")));
    child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString("latin1")));
    child.stdin?.on("error", () => {}); // the client may exit before reading its input
    child.stdin?.end(opts.input === undefined ? undefined : Buffer.from(opts.input, "latin1"));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, opts.timeoutMs ?? 30_000);
    child.once("error", (error) => {
      clearTimeout(timer);
      resolve({ code: null, stdout, stderr: stderr + String(error), timedOut });
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

export interface MailClientOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Upgrade with STARTTLS (IMAP, SMTP) or STLS (POP3) before logging in. */
  starttls?: boolean;
  /** Implicit TLS from the first byte (IMAPS, POP3S, SMTPS). */
  ssl?: boolean;
  /** CA file to verify the server with; without it, TLS does not verify (test certs). */
  cafile?: string;
  /** Server name for SNI and verification; default host. */
  servername?: string;
  timeoutMs?: number;
}

export interface ImapFetchOptions extends MailClientOptions {
  /** "login" (LOGIN command, default) or "plain" (AUTHENTICATE PLAIN). */
  auth?: "login" | "plain";
  mailbox?: string;
  /** Message sequence number to fetch; default 1. */
  message?: number;
}

/**
 * imaplib: login, select, fetch one message with RFC822, logout. Prints the message bytes
 * exactly; on failure exits 1 with the Python exception on stderr.
 */
export function pythonImapFetch(opts: ImapFetchOptions): Promise<ClientResult> {
  return runPython(IMAP_FETCH, opts);
}

export interface Pop3RetrOptions extends MailClientOptions {
  /** Message number to RETR; default 1. */
  message?: number;
}

/** poplib: USER/PASS, RETR one message, QUIT. Prints the message lines joined by CRLF. */
export function pythonPop3Retr(opts: Pop3RetrOptions): Promise<ClientResult> {
  return runPython(POP3_RETR, opts);
}

export interface SmtpSendOptions extends Omit<MailClientOptions, "user" | "password"> {
  /** Omit user to send without AUTH. */
  user?: string;
  password?: string;
  /** Force one SASL mechanism ("PLAIN", "LOGIN", "CRAM-MD5"); default: smtplib picks. */
  mechanism?: string;
  from: string;
  to: string[];
  /** RFC 5322 text. */
  message: string;
  ehlo?: string;
  /** smtplib's wire transcript on stderr. */
  debug?: boolean;
}

/**
 * smtplib: EHLO, optional STARTTLS, optional AUTH, MAIL, RCPT..., DATA, QUIT. Prints one
 * line per server reply: `AUTH 235 2.7.0 ...`, `MAIL 250 ...`, `RCPT 250 ...`, `DATA 250 ...`.
 * A rejected step prints its reply and exits 2; other failures exit 1.
 */
export function pythonSmtpSend(opts: SmtpSendOptions): Promise<ClientResult> {
  return runPython(SMTP_SEND, opts);
}

/** curl with its own arguments, e.g. ["-s", "imap://127.0.0.1:1143/", "-u", "alice:secret"]. */
export function curl(args: string[], opts: RunOptions = {}): Promise<ClientResult> {
  return run("curl", args, opts);
}

/** swaks with its own arguments, e.g. ["--server", "127.0.0.1:2525", "--to", "bob@example.org"]. */
export function swaks(args: string[], opts: RunOptions = {}): Promise<ClientResult> {
  return run("swaks", args, opts);
}

function runPython(script: string, opts: { timeoutMs?: number }): Promise<ClientResult> {
  // Options travel as JSON on stdin: no quoting, and passwords never show in `ps`.
  const input = JSON.stringify(opts);
  return run(pythonPath(), ["-c", PY_COMMON + script], { input, timeoutMs: opts.timeoutMs });
}

const PY_COMMON = String.raw`
import json, ssl, sys
opts = json.loads(sys.stdin.read())
host, port = opts["host"], opts["port"]
timeout = opts.get("timeoutMs", 30000) / 1000

def tls_context():
    if opts.get("cafile"):
        return ssl.create_default_context(cafile=opts["cafile"])
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context

def out(data):
    sys.stdout.buffer.write(data if isinstance(data, bytes) else data.encode("latin1"))
    sys.stdout.buffer.flush()
`;

const IMAP_FETCH = String.raw`
import base64, imaplib
if opts.get("ssl"):
    client = imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=timeout)
else:
    client = imaplib.IMAP4(host, port, timeout=timeout)
    if opts.get("starttls"):
        client.starttls(ssl_context=tls_context())
if opts.get("auth") == "plain":
    secret = ("\0" + opts["user"] + "\0" + opts["password"]).encode("latin1")
    client.authenticate("PLAIN", lambda _: secret)
else:
    client._encoding = "latin1"
    client.login(opts["user"], opts["password"])
typ, data = client.select(opts.get("mailbox", "INBOX"))
if typ != "OK":
    sys.exit("SELECT failed: %r" % data)
typ, data = client.fetch(str(opts.get("message", 1)), "(RFC822)")
if typ != "OK" or not isinstance(data[0], tuple):
    sys.exit("FETCH failed: %r" % data)
out(data[0][1])
client.logout()
`;

const POP3_RETR = String.raw`
import poplib
if opts.get("ssl"):
    client = poplib.POP3_SSL(host, port, context=tls_context(), timeout=timeout)
else:
    client = poplib.POP3(host, port, timeout=timeout)
    if opts.get("starttls"):
        client.stls(context=tls_context())
client.encoding = "latin1"
client.user(opts["user"])
client.pass_(opts["password"])
response, lines, size = client.retr(opts.get("message", 1))
out(b"\r\n".join(lines) + b"\r\n")
client.quit()
`;

const SMTP_SEND = String.raw`
import smtplib
ehlo = opts.get("ehlo", "client.test")
if opts.get("ssl"):
    client = smtplib.SMTP_SSL(host, port, local_hostname=ehlo, context=tls_context(), timeout=timeout)
else:
    client = smtplib.SMTP(host, port, local_hostname=ehlo, timeout=timeout)
if opts.get("debug"):
    client.set_debuglevel(1)
client.ehlo(ehlo)
if opts.get("starttls") and not opts.get("ssl"):
    client.starttls(context=tls_context())
    client.ehlo(ehlo)

def step(name, reply):
    code, text = reply
    out("%s %d %s\n" % (name, code, text.decode("latin1").replace("\n", " ")))
    return code

if opts.get("user") is not None:
    try:
        if opts.get("mechanism"):
            client.user, client.password = opts["user"], opts["password"]
            method = getattr(client, "auth_" + opts["mechanism"].lower().replace("-", "_"))
            reply = client.auth(opts["mechanism"], method)
        else:
            reply = client.login(opts["user"], opts["password"])
    except smtplib.SMTPAuthenticationError as error:
        reply = (error.smtp_code, error.smtp_error)
    if step("AUTH", reply) >= 400:
        sys.exit(2)
if step("MAIL", client.mail(opts["from"])) >= 400:
    sys.exit(2)
for rcpt in opts["to"]:
    if step("RCPT", client.rcpt(rcpt)) >= 400:
        sys.exit(2)
try:
    reply = client.data(opts["message"].encode("latin1"))
except smtplib.SMTPDataError as error:
    reply = (error.smtp_code, error.smtp_error)
if step("DATA", reply) >= 400:
    sys.exit(2)
client.quit()
`;
