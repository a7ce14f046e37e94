/**
 * The resolver's cache and parameters (issue 6 item 4) with a scripted UDP name
 * server: a second SMTP session from the same address is answered from the cache
 * (the name server sees no second question) until `valid=` or the answer's TTL runs
 * out; NXDOMAIN is cached, a timeout is not; `ipv4=off` skips the A lookup; a
 * resolver written as a host name is resolved when the config is applied.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { type RunningProxy, startProxy } from "../../support/proxy.ts";
import type { ScriptedBackend } from "../../support/scripted_backend.ts";
import { authPlain, startXclientBackend } from "../../support/smtp_xclient.ts";
import { type DnsAnswer, type DnsServer, startDnsServer } from "../../support/dns_server.ts";
import { freePort } from "../../support/ports.ts";

const PTR_NAME = "1.0.0.127.in-addr.arpa";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("resolver cache and parameters", () => {
  let backend: ScriptedBackend;
  let auth: AuthServer;
  let dns: DnsServer;
  let answers: (type: string, name: string) => DnsAnswer;

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

  async function proxyWith(resolver: string, timeout = "300ms"): Promise<{ proxy: RunningProxy; port: number }> {
    const port = await freePort();
    const proxy = await startProxy(`mail {
      server_name mx.example.com;
      auth_http ${auth.url};
      resolver ${resolver};
      resolver_timeout ${timeout};
      server {
        listen 127.0.0.1:${port};
        protocol smtp;
      }
    }`);
    return { proxy, port };
  }

  /** One session; its Client-Host and the questions the name server got meanwhile. */
  async function session(port: number): Promise<{ clientHost?: string; questions: string[] }> {
    const asked = dns.questions.length;
    const requests = auth.requests.length;
    assert.deepEqual(await authPlain(port), ["220 mx.example.com ESMTP ready", "235 2.0.0 OK"]);
    return { clientHost: auth.requests[requests]!.header("Client-Host"), questions: dns.questions.slice(asked) };
  }

  test("valid= keeps an answer for that long whatever its TTL: the second session asks nothing, one after expiry asks again", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "client.example.test", ttl: 3600 } : { a: ["127.0.0.1"], ttl: 3600 });
    const { proxy, port } = await proxyWith(`127.0.0.1:${dns.port} valid=1s`);
    try {
      assert.deepEqual(await session(port), {
        clientHost: "client.example.test",
        questions: [`PTR ${PTR_NAME}`, "A client.example.test"],
      });
      assert.deepEqual(await session(port), { clientHost: "client.example.test", questions: [] });
      await sleep(1100);
      assert.deepEqual(await session(port), {
        clientHost: "client.example.test",
        questions: [`PTR ${PTR_NAME}`, "A client.example.test"],
      });
    } finally {
      await proxy.stop();
    }
  });

  test("without valid= each answer lives for its TTL: a TTL of 0 is asked again, a TTL of an hour is not", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "ttl.example.test", ttl: 3600 } : { a: ["127.0.0.1"], ttl: 0 });
    const { proxy, port } = await proxyWith(`127.0.0.1:${dns.port}`);
    try {
      assert.deepEqual(await session(port), { clientHost: "ttl.example.test", questions: [`PTR ${PTR_NAME}`, "A ttl.example.test"] });
      assert.deepEqual(await session(port), { clientHost: "ttl.example.test", questions: ["A ttl.example.test"] });
    } finally {
      await proxy.stop();
    }
  });

  test("NXDOMAIN is cached: the second session gets [UNAVAILABLE] without a question", async () => {
    answers = () => "nxdomain";
    const { proxy, port } = await proxyWith(`127.0.0.1:${dns.port}`);
    try {
      assert.deepEqual(await session(port), { clientHost: "[UNAVAILABLE]", questions: [`PTR ${PTR_NAME}`] });
      assert.deepEqual(await session(port), { clientHost: "[UNAVAILABLE]", questions: [] });
    } finally {
      await proxy.stop();
    }
  });

  test("a timeout is not cached: the next session asks again", async () => {
    answers = () => "drop";
    const { proxy, port } = await proxyWith(`127.0.0.1:${dns.port} valid=60s`);
    try {
      assert.deepEqual(await session(port), { clientHost: "[TEMPUNAVAIL]", questions: [`PTR ${PTR_NAME}`] });
      assert.deepEqual(await session(port), { clientHost: "[TEMPUNAVAIL]", questions: [`PTR ${PTR_NAME}`] });
    } finally {
      await proxy.stop();
    }
  });

  test("ipv4=off: an IPv4 client's name is not confirmed with an A lookup and is [UNAVAILABLE]", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "v4.example.test" } : { a: ["127.0.0.1"] });
    const { proxy, port } = await proxyWith(`127.0.0.1:${dns.port} ipv4=off`);
    try {
      assert.deepEqual(await session(port), { clientHost: "[UNAVAILABLE]", questions: [`PTR ${PTR_NAME}`] });
    } finally {
      await proxy.stop();
    }
  });

  test("a resolver given as a host name is resolved when the config is applied and then asked", async () => {
    answers = (type) => (type === "PTR" ? { ptr: "named.example.test" } : { a: ["127.0.0.1"] });
    // localhost may also be ::1 where nothing answers: allow the 1 s resend to the next address.
    const { proxy, port } = await proxyWith(`localhost:${dns.port}`, "5s");
    try {
      assert.deepEqual(await session(port), {
        clientHost: "named.example.test",
        questions: [`PTR ${PTR_NAME}`, "A named.example.test"],
      });
    } finally {
      await proxy.stop();
    }
  });

  test("a resolver host name that does not resolve stops the start with host not found in resolver", async () => {
    await assert.rejects(proxyWith("no-such-host.invalid"), { message: 'host not found in resolver "no-such-host.invalid"' });
  });
});
