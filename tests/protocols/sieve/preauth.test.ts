import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { SievePreauth, type SievePreauthOptions } from "../../../src/protocols/sieve/preauth.ts";
import type { Action } from "../../../src/protocols/types.ts";

const b64 = (s: string) => Buffer.from(s, "latin1").toString("base64");

function options(overrides: Partial<SievePreauthOptions> = {}): SievePreauthOptions {
  return {
    sieve_auth: ["plain"],
    sieve_capabilities: ["fileinto", "vacation"],
    sieve_client_buffer: 4096,
    max_errors: 5,
    starttls: "off",
    implicitTls: false,
    ...overrides,
  };
}

/** Sends verbatim, other actions in brackets. */
function render(actions: Action[]): string {
  return actions.map((a) => {
    if (a.type === "send") return a.data;
    if (a.type === "close") return `[close ${a.reason}]`;
    if (a.type === "starttls") return "[starttls]";
    if (a.type === "delay-greeting") return `[delay ${a.ms}]`;
    const c = a.credentials;
    return `[auth ${c.method} user=${JSON.stringify(c.user)} pass=${JSON.stringify(c.pass)}]`;
  }).join("");
}

function feed(m: SievePreauth, chunks: string[]): { out: string; pending: string } {
  const actions = chunks.flatMap((chunk) => m.feed(chunk));
  return { out: render(actions), pending: m.takePending() };
}

/** Fed whole, split at every byte, and byte by byte: the same replies and pending bytes. */
function client(input: string, overrides: Partial<SievePreauthOptions> = {}): string {
  const whole = feed(new SievePreauth(options(overrides)), [input]);
  for (let k = 1; k < input.length; k++) {
    assert.deepEqual(feed(new SievePreauth(options(overrides)), [input.slice(0, k), input.slice(k)]), whole, `split at ${k}`);
  }
  assert.deepEqual(feed(new SievePreauth(options(overrides)), input.split("")), whole, "byte by byte");
  return whole.out;
}

const CAPS = '"IMPLEMENTATION" "mailproxy"\r\n"SIEVE" "fileinto vacation"\r\n"SASL" "PLAIN"\r\n"VERSION" "1.0"\r\n';
const INVALID = 'NO "Error in MANAGESIEVE command received by server."\r\n';

describe("ManageSieve greeting and protocol lines", () => {
  test("the greeting is the capability list, then OK", () => {
    assert.equal(render(new SievePreauth(options()).greeting()), CAPS + 'OK "ManageSieve ready."\r\n');
  });

  test("STARTTLS is listed only when it can be done; starttls only empties SASL until TLS", () => {
    const on = render(new SievePreauth(options({ starttls: "on", sieve_auth: ["plain", "login", "xoauth2"] })).greeting());
    assert.match(on, /"SASL" "PLAIN LOGIN XOAUTH2"\r\n"STARTTLS"\r\n"VERSION"/);
    const only = render(new SievePreauth(options({ starttls: "only" })).greeting());
    assert.match(only, /"SASL" ""\r\n"STARTTLS"\r\n/);
    const implicit = render(new SievePreauth(options({ starttls: "on", implicitTls: true })).greeting());
    assert.doesNotMatch(implicit, /STARTTLS/);
  });

  test("enotify in sieve_capabilities brings the NOTIFY capability", () => {
    assert.match(render(new SievePreauth(options({ sieve_capabilities: ["enotify"] })).greeting()), /"SIEVE" "enotify"\r\n"NOTIFY" "mailto"\r\n/);
  });

  test("the session lines are ManageSieve's NO and BYE", () => {
    assert.deepEqual(new SievePreauth(options()).lines, {
      internalError: 'NO (TRYLATER) "Internal server error"\r\n',
      certError: 'BYE "SSL certificate error"\r\n',
      certRequired: 'BYE "No required SSL certificate"\r\n',
      shutdown: 'BYE "Server shutting down"\r\n',
      tooManyConnections: 'BYE "Too many connections"\r\n',
      tooManyFailures: { text: "Too many login failures, try again later" },
    });
  });
});

describe("ManageSieve commands before authentication", () => {
  test("CAPABILITY, NOOP (with its TAG echoed, quoted or as a literal) and LOGOUT", () => {
    assert.equal(
      client('capability\r\nNOOP\r\nNOOP "t1"\r\nNOOP {3+}\r\na"b\r\nLOGOUT\r\nNOOP\r\n'),
      CAPS + 'OK "Capability completed."\r\nOK "NOOP Completed"\r\nOK (TAG "t1") "Done"\r\nOK (TAG {3}\r\na"b) "Done"\r\n' +
        'OK "Logout completed."\r\n[close quit]',
    );
  });

  test("AUTHENTICATE PLAIN with an initial response, quoted or literal, asks the auth service", () => {
    const token = b64("\0alice\0secret");
    assert.equal(client(`AUTHENTICATE "PLAIN" "${token}"\r\n`), '[auth plain user="alice" pass="secret"]');
    assert.equal(client(`Authenticate "plain" {${token.length}+}\r\n${token}\r\n`), '[auth plain user="alice" pass="secret"]');
  });

  test("AUTHENTICATE without an initial response gets an empty challenge; the response may be a literal", () => {
    const token = b64("\0alice\0secret");
    assert.equal(client(`AUTHENTICATE "PLAIN"\r\n{${token.length}+}\r\n${token}\r\n`), '""\r\n[auth plain user="alice" pass="secret"]');
  });

  test("AUTHENTICATE LOGIN (when enabled) prompts for the user and the password", () => {
    assert.equal(
      client(`AUTHENTICATE "LOGIN"\r\n"${b64("alice")}"\r\n"${b64("secret")}"\r\n`, { sieve_auth: ["login"] }),
      '"VXNlcm5hbWU6"\r\n"UGFzc3dvcmQ6"\r\n[auth plain user="alice" pass="secret"]',
    );
  });

  test("XOAUTH2 and EXTERNAL when enabled; a mechanism not enabled is unsupported", () => {
    const xoauth = b64("user=alice\x01auth=Bearer tok\x01\x01");
    assert.equal(client(`AUTHENTICATE "XOAUTH2" "${xoauth}"\r\n`, { sieve_auth: ["xoauth2"] }), '[auth xoauth2 user="alice" pass="tok"]');
    assert.equal(client(`AUTHENTICATE "EXTERNAL" "${b64("alice")}"\r\n`, { sieve_auth: ["external"] }), '[auth external user="alice" pass=""]');
    assert.equal(client(`AUTHENTICATE "XOAUTH2" "${xoauth}"\r\nNOOP\r\n`), 'NO "Unsupported authentication mechanism."\r\nOK "NOOP Completed"\r\n');
    assert.equal(client('AUTHENTICATE "CRAM-MD5"\r\n', { sieve_auth: ["plain"] }), 'NO "Unsupported authentication mechanism."\r\n');
  });

  test('"*" cancels a SASL exchange with NO; bad base64 and a NUL in a name are refused, not counted', () => {
    assert.equal(
      client(`AUTHENTICATE "PLAIN"\r\n"*"\r\nAUTHENTICATE "PLAIN" "!!"\r\nAUTHENTICATE "PLAIN" "${b64("\0a\0b\0c")}"\r\nNOOP\r\n`, { max_errors: 1 }),
      '""\r\n' + INVALID + INVALID + INVALID + 'OK "NOOP Completed"\r\n',
    );
  });

  test("commands of the authenticated state and unknown commands get NO and count toward max_errors", () => {
    assert.equal(
      client('LISTSCRIPTS\r\nPUTSCRIPT "s" {8+}\r\nLOGOUT\r\n\r\nFOO\r\n', { max_errors: 3 }),
      INVALID + INVALID + 'BYE "Too many invalid MANAGESIEVE commands."\r\n[close too-many-errors]',
    );
  });

  test("a command longer than sieve_client_buffer closes with BYE", () => {
    assert.equal(client(`NOOP {100+}\r\n${"x".repeat(100)}\r\n`, { sieve_client_buffer: 64 }), 'BYE "Command too long."\r\n[close too-long]');
  });

  test("STARTTLS: OK, the upgrade, bytes behind it dropped; after the handshake the capabilities again, without STARTTLS", () => {
    const m = new SievePreauth(options({ starttls: "only" }));
    assert.equal(render(m.feed('AUTHENTICATE "PLAIN" "x"\r\nSTARTTLS\r\nNOOP\r\n')),
      'NO (ENCRYPT-NEEDED) "Authentication requires TLS."\r\nOK "Begin TLS negotiation now."\r\n[starttls]');
    assert.equal(render(m.tlsStarted()), CAPS + 'OK "TLS negotiation successful."\r\n');
    assert.equal(m.takePending(), "");
    assert.equal(render(m.feed("STARTTLS\r\n")), 'NO "TLS is already active."\r\n');
    assert.equal(client("STARTTLS\r\n"), `NO "TLS support isn't enabled."\r\n`);
  });

  test("an auth failure answers NO with the text quoted; bytes pipelined behind the login are kept", () => {
    const m = new SievePreauth(options());
    assert.equal(render(m.feed(`AUTHENTICATE "PLAIN" "${b64("\0alice\0x")}"\r\nNOOP\r\n`)), '[auth plain user="alice" pass="x"]');
    assert.equal(render(m.authFailed('Bad "password"')), 'NO "Bad \\"password\\""\r\n');
    assert.equal(render(m.feed("")), 'OK "NOOP Completed"\r\n');
  });

  test("an OAuth failure sends the RFC 7628 error challenge as a string, then NO after the client's response", () => {
    const m = new SievePreauth(options({ sieve_auth: ["oauthbearer"] }));
    const payload = b64("n,a=alice,\x01auth=Bearer tok\x01\x01");
    assert.equal(render(m.feed(`AUTHENTICATE "OAUTHBEARER" "${payload}"\r\n`)), '[auth oauthbearer user="alice" pass="tok"]');
    assert.equal(render(m.authFailed("Invalid token", undefined, { closeAfter: true })), '"eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciJ9"\r\n');
    assert.equal(m.awaitingFailureAck, true);
    assert.equal(render(m.feed('"AQ=="\r\nNOOP\r\n')), 'NO "Invalid token"\r\n');
    assert.equal(m.awaitingFailureAck, false);
  });
});
