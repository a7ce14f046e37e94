/**
 * The SMTP client host name (protocols.md §5.1) with `resolver` pointing at a
 * scripted UDP DNS server on loopback: what reaches the auth service as
 * Client-Host and the backend as XCLIENT NAME.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { authPlain, startXclientBackend } from "../../support/smtp_xclient.ts";
import { freePort } from "../../support/ports.ts";
import { type DnsAnswer, type DnsServer, startDnsServer } from "../../support/dns_server.ts";

/**
 * The client's address. 127.0.0.1 is in /etc/hosts: the proxy must still ask
 * only the configured name server, like nginx (node:dns on Deno and Bun would not).
 */
const CLIENT_IP = "127.0.0.1";

describe("SMTP client host lookup through a resolver", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let answers: (type: string, name: string) => DnsAnswer;
  let dns: DnsServer;

  before(async () => {
    backend = await startXclientBackend();
    auth = await startAuthServer(routeTo(backend.port));
    dns = await startDnsServer((type, name) => answers(type, name));
  });

  after(async () => {
    await dns.close();
    await auth.close();
    await backend.close();
  });

  /** Logs in through a fresh proxy; returns Client-Host and the XCLIENT line the backend got. */
  async function loginThrough(client = CLIENT_IP): Promise<{ clientHost?: string; xclient: string; questions: string[] }> {
    const port = await freePort();
    const proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      resolver 127.0.0.1:${dns.port};
      resolver_timeout 300ms;
      server {
        listen ${client.includes(":") ? `[${client}]` : client}:${port};
        protocol smtp;
      }
    }`);
    const asked = dns.questions.length;
    const requests = auth.requests.length;
    const connections = backend.connections.length;
    try {
      assert.deepEqual(await authPlain(port, client, client), ["220 mx.example.com ESMTP ready", "235 2.0.0 OK"]);
      const got = backend.connections[connections].received();
      return {
        clientHost: auth.requests[requests].header("Client-Host"),
        xclient: got.split("\r\n").find((l) => l.startsWith("XCLIENT")) ?? "",
        questions: dns.questions.slice(asked),
      };
    } finally {
      await proxy.stop();
    }
  }

  test("a PTR name whose A record is the client's address is Client-Host and XCLIENT NAME", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "client.example.test" } : { a: ["10.0.0.1", "127.0.0.1"] });
    const r = await loginThrough();
    assert.deepEqual(r.questions, ["PTR 1.0.0.127.in-addr.arpa", "A client.example.test"]);
    assert.equal(r.clientHost, "client.example.test");
    assert.equal(r.xclient, "XCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=client.example.test");
  });

  test("an IPv6 client is looked up under ip6.arpa and confirmed with AAAA; XCLIENT ADDR has the IPV6: prefix", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "client6.example.test" } : { aaaa: ["0:0:0:0:0:0:0:1"] });
    const r = await loginThrough("::1");
    assert.deepEqual(r.questions, [`PTR 1${".0".repeat(31)}.ip6.arpa`, "AAAA client6.example.test"]);
    assert.equal(r.clientHost, "client6.example.test");
    assert.equal(r.xclient, "XCLIENT ADDR=IPV6:::1 LOGIN=alice NAME=client6.example.test");
  });

  test("NXDOMAIN for the PTR gives [UNAVAILABLE]", async () => {
    answers = () => "nxdomain";
    const r = await loginThrough();
    assert.equal(r.clientHost, "[UNAVAILABLE]");
    assert.equal(r.xclient, "XCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[UNAVAILABLE]");
  });

  test("a PTR answer with no record of type PTR (a CNAME alone) gives [TEMPUNAVAIL], as nginx's \"no PTR type in DNS response\"", async () => {
    answers = (type) => (type === "PTR" ? { cname: "1.0-25.0.0.127.in-addr.arpa" } : { a: ["127.0.0.1"] });
    const r = await loginThrough();
    assert.deepEqual(r.questions, ["PTR 1.0.0.127.in-addr.arpa"]);
    assert.equal(r.clientHost, "[TEMPUNAVAIL]");
    assert.equal(r.xclient, "XCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[TEMPUNAVAIL]");
  });

  test("a PTR answer with no records at all gives [UNAVAILABLE], as nginx takes it for NXDOMAIN", async () => {
    answers = () => ({ a: ["127.0.0.1"] }); // no record of the PTR question's type: an empty answer section
    const r = await loginThrough();
    assert.equal(r.clientHost, "[UNAVAILABLE]");
  });

  test("a forward lookup that does not contain the client's address gives [UNAVAILABLE]", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "liar.example.test" } : { a: ["192.0.2.1"] });
    const r = await loginThrough();
    assert.equal(r.clientHost, "[UNAVAILABLE]");
  });

  test("a forward lookup answering NXDOMAIN gives [UNAVAILABLE]", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "gone.example.test" } : "nxdomain");
    const r = await loginThrough();
    assert.equal(r.clientHost, "[UNAVAILABLE]");
  });

  test("a PTR name with characters other than letters, digits, - and . gives [TEMPUNAVAIL]", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "bad_name.example.test" } : { a: ["127.0.0.1"] });
    const r = await loginThrough();
    assert.equal(r.clientHost, "[TEMPUNAVAIL]");
    assert.equal(r.xclient, "XCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[TEMPUNAVAIL]");
  });

  test("no PTR answer within resolver_timeout gives [TEMPUNAVAIL] and the session goes on", async () => {
    answers = () => "drop";
    const r = await loginThrough();
    assert.equal(r.clientHost, "[TEMPUNAVAIL]");
    assert.equal(r.xclient, "XCLIENT ADDR=127.0.0.1 LOGIN=alice NAME=[TEMPUNAVAIL]");
  });

  /** A proxy whose lookups hang until resolver_timeout (300ms), with `extra` directives. */
  async function slowLookupProxy(extra: string) {
    answers = () => "drop";
    const port = await freePort();
    const proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      resolver 127.0.0.1:${dns.port};
      resolver_timeout 300ms;
      server {
        listen 127.0.0.1:${port};
        protocol smtp;
        ${extra}
      }
    }`);
    return { proxy, port };
  }

  test("bytes sent during the lookups count as talking before the delayed greeting", async () => {
    const { proxy, port } = await slowLookupProxy("smtp_greeting_delay 100ms;");
    const c = await WireClient.connect(port);
    c.send("EHLO early.example\r\n");
    assert.equal(await c.rest(), "503 5.5.0 Improper use of SMTP command pipelining\r\n");
    await proxy.stop();
  });

  test("without a greeting delay, bytes sent during the lookups are read as commands after the greeting", async () => {
    const { proxy, port } = await slowLookupProxy("");
    const c = await WireClient.connect(port);
    c.send("NOOP\r\n");
    assert.deepEqual(await c.lines(2), ["220 mx.example.com ESMTP ready", "250 2.0.0 OK"]);
    c.close();
    await proxy.stop();
  });

  test("no A answer within resolver_timeout gives [TEMPUNAVAIL]", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "slow.example.test" } : "drop");
    const r = await loginThrough();
    assert.equal(r.clientHost, "[TEMPUNAVAIL]");
  });
});
