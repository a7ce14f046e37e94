/**
 * Arbitrary bytes in every client-controlled field that reaches the auth request or a
 * backend command (issue 13): user, password, SASL authzid, SNI, HELO/MAIL/RCPT, ID
 * fields, PROXY addresses. Whatever the client sends, what mailproxy writes holds no
 * header and no command the client did not cause: a value is encoded, or refused
 * before anything is written.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { binary, runs } from "../support/fuzz.ts";
import { imapMachine } from "../support/imap_machine.ts";
import { Pop3Preauth } from "../../src/protocols/pop3/preauth.ts";
import { SmtpPreauth } from "../../src/protocols/smtp/preauth.ts";
import { ImapBackendLogin } from "../../src/protocols/imap/backend_login.ts";
import { Pop3BackendLogin } from "../../src/protocols/pop3/backend_login.ts";
import { SmtpBackendLogin } from "../../src/protocols/smtp/backend_login.ts";
import { SievePreauth } from "../../src/protocols/sieve/preauth.ts";
import { SieveBackendLogin } from "../../src/protocols/sieve/backend_login.ts";
import { backendIdCommand, parseIdArgument } from "../../src/protocols/imap/id.ts";
import { buildAuthRequest } from "../../src/auth/request.ts";
import type { AuthRequest, ClientTlsInfo } from "../../src/auth/types.ts";
import type { Action, BackendLogin, Credentials, LoginContext, PreauthMachine } from "../../src/protocols/types.ts";
import { proxyHeaderV1 } from "../../src/wire/proxy_header.ts";
import { isValidServerName } from "../../src/tls/server_name.ts";
import { UnsafeValueError } from "../../src/wire/wire.ts";
import { type Name, rfc2253 } from "../../src/tls/x509_name.ts";
import type { AuthHttpUrl } from "../../src/config/model.ts";

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");
const URL: AuthHttpUrl = { kind: "tcp", url: "http://127.0.0.1/auth", host: "127.0.0.1", port: 80, uri: "/auth" };

/** Bytes biased toward the ones that end lines and headers. */
const hostile = fc.array(fc.oneof(binary(8), fc.constantFrom("\r", "\n", "\r\n", "\0", " ", ":", "%", "\t", "\x0b", "Auth-User: x", "a1 OK")), {
  maxLength: 8,
}).map((parts) => parts.join(""));

/** The header names of a request, in order; throws if the head is not name: value lines ending in one empty line. */
function headerNames(head: string): string[] {
  assert.ok(head.endsWith("\r\n\r\n"));
  const lines = head.slice(0, -4).split("\r\n");
  assert.match(lines[0]!, /^GET \S+ HTTP\/1\.[01]$/);
  return lines.slice(1).map((line) => {
    assert.doesNotMatch(line, /[\r\n\0]/);
    const m = /^([A-Za-z-]+): /.exec(line);
    assert.ok(m, `not a header line: ${JSON.stringify(line)}`);
    return m[1]!;
  });
}

/** The same request with every client value replaced by a harmless one: the header names it must produce. */
function benign(req: AuthRequest): AuthRequest {
  const c = req.credentials;
  return {
    ...req,
    credentials: { ...c, user: "u", pass: "p", ...(c.smtp ? { smtp: { helo: "h", from: "MAIL FROM:<a@b>", to: "RCPT TO:<c@d>" } } : {}) },
    ...(req.tls ? { tls: { ...req.tls, ...(req.tls.serverName ? { serverName: "s.example" } : {}) } } : {}),
  };
}

/** Feed a machine, return its auth actions. */
function authActions(machine: PreauthMachine, input: string): Array<Extract<Action, { type: "auth" }>> {
  machine.greeting();
  return machine.feed(input).filter((a): a is Extract<Action, { type: "auth" }> => a.type === "auth");
}

/** Run a backend login against a backend that says yes to everything; the bytes it was sent. */
function backendBytes(login: BackendLogin, replies: string[] | ((lastSent: string) => string)): string {
  let sent = "";
  let last = "";
  for (let i = 0; i < 10; i++) {
    const reply = typeof replies === "function" ? replies(last) : replies[i];
    if (reply === undefined) break;
    const step = login.onReply(reply);
    if (step.type === "send") {
      sent += step.data;
      last = step.data;
    }
    if (step.type !== "send" && step.type !== "wait") break;
  }
  return sent;
}

/** Whatever an accepted login carries must fit the auth request with exactly the expected headers. */
function assertAuthRequestClean(protocol: AuthRequest["protocol"], credentials: Credentials, tls?: ClientTlsInfo): void {
  const req: AuthRequest = { protocol, credentials, attempt: 1, clientIp: "192.0.2.1", ...(tls ? { tls } : {}) };
  assert.deepEqual(headerNames(buildAuthRequest(URL, req, [], "1.0")), headerNames(buildAuthRequest(URL, benign(req), [], "1.0")));
}

describe("fuzz: client bytes toward the auth service and the backends", () => {
  test("IMAP LOGIN literals and AUTHENTICATE PLAIN with any bytes: one auth request of the usual headers, one LOGIN to the backend", () => {
    fc.assert(
      fc.property(hostile, hostile, hostile, fc.boolean(), (authzid, user, pass, sasl) => {
        const input = sasl
          ? `a1 AUTHENTICATE PLAIN ${b64(`${authzid}\0${user}\0${pass}`)}\r\n`
          : `a1 LOGIN {${user.length}+}\r\n${user} {${pass.length}+}\r\n${pass}\r\n`;
        for (const action of authActions(imapMachine(), input)) {
          const { credentials, context } = action;
          assertAuthRequestClean("imap", credentials);
          const sent = backendBytes(
            new ImapBackendLogin(context.imapTag!, credentials.user, credentials.pass),
            ["* OK ready\r\n", "+ go\r\n", "+ go\r\n", "a1 OK done\r\n"],
          );
          // One command: the tag, LOGIN and two literals of exactly the credentials' lengths.
          const u = credentials.user;
          const p = credentials.pass;
          assert.equal(sent, `a1 LOGIN {${u.length}}\r\n${u} {${p.length}}\r\n${p}\r\n`);
          assert.ok(!u.includes("\0") && !p.includes("\0"));
        }
      }),
      runs(400),
    );
  });

  test("POP3 USER/PASS, AUTH PLAIN and AUTH LOGIN with any bytes: the backend gets exactly USER and PASS, each one line", () => {
    fc.assert(
      fc.property(hostile, hostile, hostile, fc.integer({ min: 0, max: 2 }), (authzid, user, pass, how) => {
        const input = [
          `USER ${user}\r\nPASS ${pass}\r\n`,
          `AUTH PLAIN ${b64(`${authzid}\0${user}\0${pass}`)}\r\n`,
          `AUTH LOGIN ${b64(user)}\r\n${b64(pass)}\r\n`,
        ][how]!;
        const machine = new Pop3Preauth({
          pop3_auth: ["plain"], pop3_capabilities: [], max_errors: 50, starttls: "off", server_name: "mx.example.com", implicitTls: false,
        });
        for (const { credentials } of authActions(machine, input)) {
          assertAuthRequestClean("pop3", credentials);
          const sent = backendBytes(new Pop3BackendLogin(credentials.user, credentials.pass), ["+OK ready\r\n", "+OK\r\n", "+OK\r\n"]);
          assert.equal(sent, `USER ${credentials.user}\r\nPASS ${credentials.pass}\r\n`);
          assert.equal(sent.split("\r\n").length, 3, "two lines, no more");
        }
      }),
      runs(400),
    );
  });

  test("SMTP HELO, MAIL, RCPT and AUTH PLAIN with any bytes: the usual Auth-SMTP headers, and the backend gets one line per command", () => {
    fc.assert(
      fc.property(hostile, hostile, hostile, hostile, fc.boolean(), (helo, from, to, pass, none) => {
        const machine = new SmtpPreauth({
          smtp_auth: none ? ["none"] : ["plain"], smtp_capabilities: [], smtp_client_buffer: 4096, max_errors: 50,
          starttls: "off", server_name: "mx.example.com", implicitTls: false,
        });
        const input = none
          ? `EHLO ${helo}\r\nMAIL FROM:<${from}>\r\nRCPT TO:<${to}>\r\n`
          : `EHLO ${helo}\r\nAUTH PLAIN ${b64(`\0${from}\0${pass}`)}\r\n`;
        for (const { credentials, context } of authActions(machine, input)) {
          assertAuthRequestClean("smtp", credentials);
          const login = new SmtpBackendLogin({
            serverName: "mx.example.com", xclient: true, proxySmtpAuth: !none, clientAddr: "192.0.2.1", clientHost: "[UNAVAILABLE]",
            user: credentials.user || undefined, pass: credentials.pass || undefined, method: credentials.method, context: context as LoginContext,
          });
          const sent = backendBytes(login, (last) => (last === "" ? "220 hi\r\n" : last.startsWith("AUTH") ? "235 ok\r\n" : "250 ok\r\n"));
          const lines = sent.split("\r\n").slice(0, -1);
          for (const line of lines) assert.doesNotMatch(line, /[\r\n\0]/);
          // Exactly the commands the dialogue stands for: the proxy's EHLO and XCLIENT, the client's
          // HELO replayed when it gave one, then its MAIL and RCPT or the AUTH.
          const hello = context.smtpHelo ? [`EHLO ${context.smtpHelo}`] : [];
          // (AUTH needs a password: with an empty one the login stops before it.)
          const rest = none ? [context.smtpMail!, context.smtpRcpt!] : credentials.pass ? [lines[lines.length - 1]!] : [];
          assert.deepEqual(lines, ["EHLO mx.example.com", lines[1]!, ...hello, ...rest]);
          for (const auth of none ? [] : rest) assert.match(auth, /^AUTH PLAIN [A-Za-z0-9+/=]+$/);
          assert.match(lines[1]!, /^XCLIENT ADDR=192\.0\.2\.1 NAME=\[UNAVAILABLE\]$/);
        }
      }),
      runs(400),
    );
  });

  test("IMAP ID fields with any bytes: the backend's ID line is one line, and only the proxy sets x-* fields", () => {
    const quotedish = hostile.map((s) => `"${s.replace(/[\\"]/g, (c) => "\\" + c)}"`);
    fc.assert(
      fc.property(fc.array(fc.tuple(quotedish, quotedish), { maxLength: 4 }), (pairs) => {
        const fields = parseIdArgument(`(${pairs.map(([n, v]) => `${n} ${v}`).join(" ")})`);
        if (fields === null) return;
        const line = backendIdCommand("a1 ", fields, { clientIp: "192.0.2.1", clientPort: 1, localIp: "10.0.0.1", localPort: 143 });
        assert.ok(line.endsWith("\r\n"));
        assert.doesNotMatch(line.slice(0, -2), /[\r\n\0]/);
        const sent = parseIdArgument(line.slice("a1 ID ".length, -2));
        assert.ok(sent, "the proxy's ID line parses");
        const proxyFields = sent.filter(([name]) => /^\s*x-/i.test(name)).map(([name, value]) => `${name}=${value}`);
        assert.deepEqual(proxyFields, ["x-originating-ip=192.0.2.1", "x-originating-port=1", "x-connected-ip=10.0.0.1", "x-connected-port=143"]);
      }),
      runs(400),
    );
  });

  test("an SNI name the proxy accepts can only be a host name, and goes into the auth request as one header", () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.domain()), (name) => {
        if (!isValidServerName(name)) return;
        assert.match(name, /^[A-Za-z0-9._-]+$/);
        assertAuthRequestClean("imap", { method: "plain", user: "u", pass: "p" }, { protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", serverName: name });
      }),
      runs(400),
    );
  });

  test("certificate names with any bytes in any string type: the Auth-SSL-Subject and -Issuer texts hold no control byte", () => {
    const attribute = fc.record({
      oid: fc.constantFrom("2.5.4.3", "2.5.4.10", "0.9.2342.19200300.100.1.25", "1.2.3.4"),
      tag: fc.constantFrom(0x0c, 0x13, 0x14, 0x16, 0x1e, 0x04),
      bytes: fc.oneof(hostile, binary(12)),
    });
    fc.assert(
      fc.property(fc.array(fc.array(attribute, { minLength: 1, maxLength: 2 }), { maxLength: 3 }), (rdns) => {
        const name: Name = rdns.map((rdn) => rdn.map(({ oid, tag, bytes }) => {
          const value = Buffer.from(bytes, "latin1");
          return { oid, value: { tag, value, raw: Buffer.concat([Buffer.from([tag, value.length]), value]) } };
        }));
        const text = rfc2253(name);
        assert.doesNotMatch(text, /[\x00-\x1f\x7f]/);
        assertAuthRequestClean("imap", { method: "external", user: "", pass: "" }, {
          protocol: "TLSv1.3", cipher: "TLS_AES_128_GCM_SHA256", verify: "SUCCESS", subject: text, issuer: text,
        });
      }),
      runs(400),
    );
  });

  test("PROXY v1 addresses with any bytes: one header line of five fields, or UNKNOWN", () => {
    fc.assert(
      fc.property(fc.oneof(hostile, fc.ipV4(), fc.ipV6()), fc.oneof(hostile, fc.ipV4()), (clientAddr, localAddr) => {
        const header = proxyHeaderV1({ clientAddr, clientPort: 1234, localAddr, localPort: 143 });
        assert.match(header, /^PROXY (UNKNOWN|TCP4 [0-9.]+ [0-9.]+ 1234 143|TCP6 [0-9a-fA-F:.]+ [0-9a-fA-F:.]+ 1234 143)\r\n$/);
      }),
      runs(400),
    );
  });

  test("ManageSieve AUTHENTICATE PLAIN and LOGIN, quoted or literal, with any bytes: the usual headers, and the backend gets exactly one AUTHENTICATE line", () => {
    const quoted = (s: string) => `"${s}"`;
    const literal = (s: string) => `{${s.length}+}\r\n${s}`;
    fc.assert(
      fc.property(hostile, hostile, hostile, fc.boolean(), fc.boolean(), (authzid, user, pass, login, asLiteral) => {
        const str = asLiteral ? literal : quoted;
        const input = login
          ? `AUTHENTICATE "LOGIN"\r\n${str(b64(user))}\r\n${str(b64(pass))}\r\n`
          : `AUTHENTICATE ${str("PLAIN")} ${str(b64(`${authzid}\0${user}\0${pass}`))}\r\n`;
        const machine = new SievePreauth({
          sieve_auth: ["plain", "login"], sieve_capabilities: [], sieve_client_buffer: 4096, max_errors: 50, starttls: "off", implicitTls: false,
        });
        for (const { credentials } of authActions(machine, input)) {
          assertAuthRequestClean("sieve", credentials);
          const sent = backendBytes(new SieveBackendLogin(credentials.user, credentials.pass), ['"SASL" "PLAIN"\r\nOK "ready"\r\n', 'OK "Logged in."\r\n']);
          assert.equal(sent, `AUTHENTICATE "PLAIN" "${b64(`\0${credentials.user}\0${credentials.pass}`)}"\r\n`);
          assert.ok(!credentials.user.includes("\0") && !credentials.pass.includes("\0"));
        }
      }),
      runs(400),
    );
  });

  test("a value the backend cannot carry is refused by its encoder, naming the field and never the value", () => {
    const login = new Pop3BackendLogin("alice\r\nDELE 1", "s3cret\r\n");
    assert.throws(() => backendBytes(login, ["+OK ready\r\n"]), (err: unknown) => {
      assert.ok(err instanceof UnsafeValueError);
      assert.equal(err.message, "the USER argument cannot be sent to the POP3 backend: it contains a byte that format cannot carry");
      return true;
    });
    const pass = new Pop3BackendLogin("alice", "s3cret\r\nDELE 1");
    assert.throws(() => backendBytes(pass, ["+OK ready\r\n", "+OK\r\n"]), /^UnsafeValueError: the password cannot be sent to the POP3 backend/);
  });
});
