import { describe, test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import dns from "node:dns";
import { AuthHttpClient, type AuthHttpClientOptions } from "../../src/auth/auth_http.ts";
import { buildAuthRequest } from "../../src/auth/request.ts";
import type { AuthRequest } from "../../src/auth/types.ts";
import { Logger } from "../../src/log/logger.ts";
import { type AuthHandler, type AuthReply, type AuthServer, defaultAuthHandler, startAuthServer } from "../support/auth_server.ts";
import { freePort } from "../support/ports.ts";
import { tempDir } from "../support/temp_dir.ts";

const BACKEND = { host: "10.0.0.5", port: 143 };
const USERS = {
  "john doe": { password: "s3cr%t pw", backend: BACKEND },
  "алиса": { password: "пароль", backend: { host: "10.0.0.7", port: 110 } },
};

function plain(user: string, pass: string, attempt = 1): AuthRequest {
  return {
    protocol: "imap",
    credentials: { method: "plain", user: Buffer.from(user).toString("latin1"), pass: Buffer.from(pass).toString("latin1") },
    attempt,
    clientIp: "192.0.2.42",
  };
}

/** Run `body` against a fresh auth server and client, closing both afterwards. */
async function withAuth(
  handler: AuthHandler,
  options: Partial<AuthHttpClientOptions>,
  body: (client: AuthHttpClient, server: AuthServer) => Promise<void>,
  serverOptions: { path?: string } = {},
): Promise<void> {
  const server = await startAuthServer(handler, serverOptions);
  const client = new AuthHttpClient({
    url: server.authUrl,
    headers: [],
    timeoutMs: 5000,
    keepalive: 0,
    passClientCert: false,
    ...options,
  });
  try {
    await body(client, server);
  } finally {
    client.close();
    await server.close();
  }
}

function tempPath(name: string): string {
  return path.join(tempDir("mailproxy-auth-"), name);
}

describe("auth_http client answers", () => {
  test("a correct password yields the backend and the request bytes are exactly the nginx request", async () => {
    await withAuth(defaultAuthHandler(USERS), { headers: [["X-Auth-Key", "k1"], ["X-Other", "two words"]] }, async (client, server) => {
      const req = plain("john doe", "s3cr%t pw");
      assert.deepEqual(await client.authenticate(req), { type: "ok", server: "10.0.0.5", port: 143 });
      assert.equal(server.requests.length, 1);
      const seen = server.requests[0];
      assert.equal(seen.raw, buildAuthRequest(server.authUrl, req, [["X-Auth-Key", "k1"], ["X-Other", "two words"]], "1.0"));
      assert.equal(seen.requestLine, "GET /auth HTTP/1.0");
      assert.deepEqual(seen.headers.slice(-2), [["X-Auth-Key", "k1"], ["X-Other", "two words"]]);
      assert.equal(seen.header("Auth-Pass"), "s3cr%25t%20pw");
      assert.equal(seen.user, "john doe");
      assert.equal(seen.pass, "s3cr%t pw");
    });
  });

  test("UTF-8 user names and passwords travel byte-exact", async () => {
    await withAuth(defaultAuthHandler(USERS), {}, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("алиса", "пароль")), { type: "ok", server: "10.0.0.7", port: 110 });
      assert.equal(Buffer.from(server.requests[0].user, "latin1").toString("utf8"), "алиса");
    });
  });

  test("a wrong password yields the error text and the Auth-Wait delay", async () => {
    await withAuth(defaultAuthHandler(USERS, { wait: 3 }), {}, async (client) => {
      assert.deepEqual(await client.authenticate(plain("john doe", "nope")), {
        type: "error",
        text: "Invalid login or password",
        wait: 3,
      });
    });
  });

  test("APOP and CRAM-MD5 digests are verified by the default handler, which returns the real password", async () => {
    const salt = "<1896113702.1700000000@mx.example.com>";
    const apop = crypto.createHash("md5").update(salt + "s3cr%t pw").digest("hex");
    const cram = crypto.createHmac("md5", "s3cr%t pw").update(salt).digest("hex");
    await withAuth(defaultAuthHandler(USERS), {}, async (client) => {
      const base = { attempt: 1, clientIp: "198.51.100.7" };
      assert.deepEqual(
        await client.authenticate({ ...base, protocol: "pop3", credentials: { method: "apop", user: "john doe", pass: apop, salt } }),
        { type: "ok", server: "10.0.0.5", port: 143, pass: "s3cr%t pw" },
      );
      assert.deepEqual(
        await client.authenticate({ ...base, protocol: "imap", credentials: { method: "cram-md5", user: "john doe", pass: cram, salt } }),
        { type: "ok", server: "10.0.0.5", port: 143, pass: "s3cr%t pw" },
      );
      assert.deepEqual(
        await client.authenticate({ ...base, protocol: "imap", credentials: { method: "cram-md5", user: "john doe", pass: apop, salt } }),
        { type: "error", text: "Invalid login or password", wait: 0 },
      );
    });
  });

  test("WAIT is re-queried with the same attempt number until a real answer comes", async () => {
    let calls = 0;
    const handler: AuthHandler = (): AuthReply => {
      calls++;
      if (calls === 1) return { headers: { "Auth-Status": "WAIT" } };
      if (calls === 2) return { headers: { "Auth-Status": "WAIT", "Auth-Wait": "1" } };
      return { headers: { "Auth-Status": "OK", "Auth-Server": "10.0.0.9", "Auth-Port": "993" } };
    };
    await withAuth(handler, {}, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("john doe", "x", 4)), { type: "ok", server: "10.0.0.9", port: 993 });
      assert.deepEqual(server.requests.map((r) => r.attempt), [4, 4, 4]);
      assert.equal(server.requests[2].raw, server.requests[0].raw);
      assert.equal(server.connections, 3);
    });
  });

  test("a WAIT answer does not leak into the next answer, which is judged on its own", async () => {
    let calls = 0;
    const handler: AuthHandler = () =>
      ++calls === 1 ? { headers: { "Auth-Status": "WAIT" } } : { headers: { "Auth-Status": "Go away" } };
    await withAuth(handler, {}, async (client) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), { type: "error", text: "Go away", wait: 0 });
    });
  });

  test("a host name in Auth-Server is resolved to its first address (beyond nginx)", async () => {
    const expected = (await dns.promises.lookup("localhost")).address;
    await withAuth(() => ({ headers: { "Auth-Server": "localhost", "Auth-Port": "143" } }), {}, async (client) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), { type: "ok", server: expected, port: 143 });
    });
  });

  test("the client certificate is sent only with auth_http_pass_client_cert on", async () => {
    const req: AuthRequest = {
      ...plain("bob", "pw"),
      tls: { protocol: "TLSv1.3", cipher: "TLS_AES_256_GCM_SHA384", verify: "SUCCESS", subject: "CN=bob", certPem: "PEM DATA\n" },
    };
    await withAuth(defaultAuthHandler(USERS), {}, async (client, server) => {
      await client.authenticate(req);
      assert.equal(server.requests[0].header("Auth-SSL-Cert"), undefined);
      assert.equal(server.requests[0].header("Auth-SSL-Subject"), "CN=bob");
    });
    await withAuth(defaultAuthHandler(USERS), { passClientCert: true }, async (client, server) => {
      await client.authenticate(req);
      assert.equal(server.requests[0].header("Auth-SSL-Cert"), "PEM%20DATA%0A");
    });
  });
});

describe("auth_http client failures become internal errors", () => {
  test("a server that never answers times out", async () => {
    await withAuth(() => "hang", { timeoutMs: 300 }, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} timed out`,
        unreachable: true,
      });
    });
  });

  test("a slow drip of bytes does not extend the deadline", async () => {
    const raw = "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n\r\n";
    await withAuth(() => ({ raw, dripMs: 40 }), { timeoutMs: 400 }, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} timed out`,
        unreachable: true,
      });
    });
  });

  test("a refused connection is reported as nginx does", async () => {
    const port = await freePort();
    const client = new AuthHttpClient({
      url: { kind: "tcp", url: `http://127.0.0.1:${port}/`, host: "127.0.0.1", port, uri: "/" },
      headers: [],
      timeoutMs: 5000,
      keepalive: 0,
      passClientCert: false,
    });
    assert.deepEqual(await client.authenticate(plain("a", "b")), {
      type: "internal",
      reason: "connect() failed (111: Connection refused) while in http auth state",
      unreachable: true,
    });
    client.close();
  });

  test("a server closing in the middle of the headers is an internal error", async () => {
    await withAuth(() => ({ raw: "HTTP/1.0 200 OK\r\nAuth-Status: OK\r\nAuth-Ser" }), {}, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} prematurely closed connection`,
        unreachable: true,
      });
    });
  });

  test("a server closing without a byte is an internal error", async () => {
    await withAuth(() => "close", {}, async (client, server) => {
      const result = await client.authenticate(plain("a", "b"));
      assert.equal(result.type, "internal");
      assert.ok(
        result.type === "internal" &&
          (result.reason === `auth http server 127.0.0.1:${server.port} prematurely closed connection` ||
            result.reason === "recv() failed (104: Connection reset by peer) while in http auth state"),
        JSON.stringify(result),
      );
    });
  });

  test("garbage is an invalid header", async () => {
    for (const raw of ["\x00\xff\xfe garbage\r\n\r\n", "Auth_Status: OK\r\n\r\n", "<html>\n"]) {
      await withAuth(() => ({ raw }), {}, async (client, server) => {
        assert.deepEqual(await client.authenticate(plain("a", "b")), {
          type: "internal",
          reason: `auth http server 127.0.0.1:${server.port} sent invalid header in response`,
        });
      });
    }
  });

  test("a status line with a bare CR is an invalid response", async () => {
    await withAuth(() => ({ raw: "HTTP/1.0 200 OK\rAuth-Status: OK\r\n\r\n" }), {}, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} sent invalid response`,
      });
    });
  });

  test("a huge response is rejected without reading it all", async () => {
    const raw = "HTTP/1.0 200 OK\r\nAuth-Status: " + "x".repeat(200_000) + "\r\n\r\n";
    await withAuth(() => ({ raw }), {}, async (client, server) => {
      assert.deepEqual(await client.authenticate(plain("a", "b")), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} sent too big header`,
      });
    });
  });

  test("success without a password after CRAM-MD5 on POP3 is an internal error", async () => {
    await withAuth(() => ({ headers: { "Auth-Server": "10.0.0.5", "Auth-Port": "110" } }), {}, async (client, server) => {
      const req: AuthRequest = {
        protocol: "pop3",
        credentials: { method: "cram-md5", user: "u", pass: "0".repeat(32), salt: "<1.2@h>" },
        attempt: 1,
        clientIp: "192.0.2.1",
      };
      assert.deepEqual(await client.authenticate(req), {
        type: "internal",
        reason: `auth http server 127.0.0.1:${server.port} did not send password`,
      });
    });
  });

  test("an unresolvable auth_http host is an internal error", async () => {
    const client = new AuthHttpClient({
      url: { kind: "tcp", url: "http://no-such-host.invalid/auth", host: "no-such-host.invalid", port: 80, uri: "/auth" },
      headers: [],
      timeoutMs: 5000,
      keepalive: 0,
      passClientCert: false,
    });
    assert.deepEqual(await client.authenticate(plain("a", "b")), {
      type: "internal",
      reason: 'host not found in auth_http "http://no-such-host.invalid/auth"',
      unreachable: true,
    });
    client.close();
  });

  test("no password appears in any reason or log line", async () => {
    const logFile = tempPath("error.log");
    const logger = new Logger([{ path: logFile, level: "debug", json: false }]);
    const secret = "Pw-0f-D00m";
    const reasons: string[] = [];
    const log = { conn: 7, client: "192.0.2.42", server: "0.0.0.0:143" };
    const behaviours: AuthHandler[] = [
      () => "hang",
      () => ({ raw: "Bad_Header: " + secret + "\r\n\r\n" }),
      () => ({ raw: "Auth-Status: OK\r\n" }),
      () => ({ headers: { "Auth-Status": "OK" } }),
      () => ({ headers: { "Auth-Server": "10.0.0.5", "Auth-Port": "0" } }),
      () => ({ raw: "x".repeat(5000) }),
    ];
    for (const handler of behaviours) {
      await withAuth(handler, { timeoutMs: 300, logger }, async (client) => {
        const result = await client.authenticate({ ...plain(secret, secret), log });
        assert.equal(result.type, "internal");
        if (result.type === "internal") reasons.push(result.reason);
      });
    }
    const port = await freePort();
    const refused = new AuthHttpClient({
      url: { kind: "tcp", url: `127.0.0.1:${port}`, host: "127.0.0.1", port, uri: "/" },
      headers: [],
      timeoutMs: 1000,
      keepalive: 0,
      passClientCert: false,
      logger,
      logContext: { conn: 8, client: "192.0.2.43", server: "0.0.0.0:110" },
    });
    const result = await refused.authenticate(plain(secret, secret));
    if (result.type === "internal") reasons.push(result.reason);
    logger.open([]);

    const lines = fs.readFileSync(logFile, "utf8").trimEnd().split("\n");
    assert.equal(lines.length, 7);
    assert.equal(reasons.length, 7);
    for (const [i, line] of lines.entries()) {
      assert.ok(!line.includes(secret) && !reasons[i].includes(secret), line);
      const ctx = i < 6 ? ", client: 192.0.2.42, server: 0.0.0.0:143" : ", client: 192.0.2.43, server: 0.0.0.0:110";
      assert.match(line, /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d \[error\] \d+#0: \*\d /);
      assert.ok(line.endsWith(`${reasons[i].replace(/ while in http auth state$/, "")} while in http auth state${ctx}`), line);
    }
    assert.ok(lines[0].includes(" timed out while in http auth state, client: 192.0.2.42"));
    assert.ok(lines[6].includes("*8 connect() failed (111: Connection refused) while in http auth state, client: 192.0.2.43"));
  });
});

describe("auth_http keep-alive pool (beyond nginx)", () => {
  const ok: AuthHandler = () => ({ headers: { "Auth-Status": "OK", "Auth-Server": "10.0.0.5", "Auth-Port": "143" }, body: "ok\n" });

  test("with keepalive 0 every request gets its own HTTP/1.0 connection", async () => {
    await withAuth(ok, { keepalive: 0 }, async (client, server) => {
      for (let i = 1; i <= 3; i++) assert.equal((await client.authenticate(plain("a", "b", i))).type, "ok");
      assert.equal(server.connections, 3);
      assert.deepEqual(server.requests.map((r) => r.requestLine), Array(3).fill("GET /auth HTTP/1.0"));
      assert.equal(client.idleConnections, 0);
    });
  });

  test("with keepalive > 0 sequential requests share one HTTP/1.1 connection", async () => {
    await withAuth(ok, { keepalive: 2 }, async (client, server) => {
      for (let i = 1; i <= 5; i++) assert.equal((await client.authenticate(plain("a", "b", i))).type, "ok");
      assert.equal(server.connections, 1);
      assert.deepEqual(server.requests.map((r) => r.requestLine), Array(5).fill("GET /auth HTTP/1.1"));
      assert.deepEqual(server.requests.map((r) => r.connection), [1, 1, 1, 1, 1]);
      assert.equal(client.idleConnections, 1);
    });
  });

  test("concurrent requests open more connections but only keepalive of them stay idle", async () => {
    await withAuth(ok, { keepalive: 2 }, async (client, server) => {
      const results = await Promise.all([1, 2, 3].map((i) => client.authenticate(plain("a", "b", i))));
      assert.deepEqual(results.map((r) => r.type), ["ok", "ok", "ok"]);
      assert.equal(server.connections, 3);
      assert.equal(client.idleConnections, 2);
      client.close();
      assert.equal(client.idleConnections, 0);
    });
  });

  test("a chunked body is skipped and the connection reused", async () => {
    const raw = "HTTP/1.1 200 OK\r\nAuth-Status: OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n" +
      "Transfer-Encoding: chunked\r\n\r\n4\r\nfine\r\n0\r\n\r\n";
    await withAuth(() => ({ raw, keepOpen: true }), { keepalive: 1 }, async (client, server) => {
      for (let i = 1; i <= 3; i++) assert.equal((await client.authenticate(plain("a", "b", i))).type, "ok");
      assert.equal(server.connections, 1);
    });
  });

  test("a body arriving after the headers is drained before the connection goes back to the pool", async () => {
    const raw = "HTTP/1.1 200 OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\nContent-Length: 12\r\n\r\nslow body...";
    await withAuth(() => ({ raw, keepOpen: true, dripMs: 2 }), { keepalive: 1 }, async (client, server) => {
      assert.equal((await client.authenticate(plain("a", "b", 1))).type, "ok");
      for (let i = 0; i < 500 && client.idleConnections === 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(client.idleConnections, 1);
      assert.equal((await client.authenticate(plain("a", "b", 2))).type, "ok");
      assert.equal(server.connections, 1);
    });
  });

  test("an HTTP/1.1 answer with Connection: close or without a body length is not reused", async () => {
    const answers = [
      "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n\r\n",
      "HTTP/1.1 200 OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n\r\n",
    ];
    for (const raw of answers) {
      await withAuth(() => ({ raw, keepOpen: true }), { keepalive: 4 }, async (client, server) => {
        for (let i = 1; i <= 2; i++) assert.equal((await client.authenticate(plain("a", "b", i))).type, "ok");
        assert.equal(server.connections, 2);
        assert.equal(client.idleConnections, 0);
      });
    }
  });

  test("a pooled connection the server dropped at the next request is retried once on a fresh one", async () => {
    let calls = 0;
    const handler: AuthHandler = (req) => {
      calls++;
      // The second request arrives on the pooled connection: drop it without answering.
      if (calls === 2) {
        assert.equal(req.connection, 1);
        return "close";
      }
      return ok(req);
    };
    await withAuth(handler, { keepalive: 1 }, async (client, server) => {
      assert.equal((await client.authenticate(plain("a", "b", 1))).type, "ok");
      assert.deepEqual(await client.authenticate(plain("a", "b", 2)), { type: "ok", server: "10.0.0.5", port: 143 });
      assert.equal(server.connections, 2);
      assert.deepEqual(server.requests.map((r) => [r.attempt, r.connection]), [[1, 1], [2, 1], [2, 2]]);
    });
  });

  test("a fresh connection that closes is not retried", async () => {
    await withAuth(() => "close", { keepalive: 1 }, async (client, server) => {
      assert.equal((await client.authenticate(plain("a", "b"))).type, "internal");
      assert.equal(server.connections, 1);
    });
  });

  test("idle connections closed by the server are dropped and replaced", async () => {
    await withAuth(ok, { keepalive: 1 }, async (client, server) => {
      assert.equal((await client.authenticate(plain("a", "b", 1))).type, "ok");
      assert.equal(client.idleConnections, 1);
      server.closeIdle();
      for (let i = 0; i < 100 && client.idleConnections > 0; i++) await new Promise((r) => setTimeout(r, 10));
      assert.equal(client.idleConnections, 0);
      assert.equal((await client.authenticate(plain("a", "b", 2))).type, "ok");
      assert.equal(server.connections, 2);
    });
  });

  test("WAIT re-queries reuse the pooled connection", async () => {
    let calls = 0;
    const handler: AuthHandler = (req) => (++calls === 1 ? { headers: { "Auth-Status": "WAIT" } } : ok(req));
    await withAuth(handler, { keepalive: 1 }, async (client, server) => {
      assert.equal((await client.authenticate(plain("a", "b", 1))).type, "ok");
      assert.equal(server.connections, 1);
      assert.equal(server.requests.length, 2);
    });
  });
});

describe("auth_http over a UNIX socket", () => {
  test("requests go to the socket with Host: localhost", async () => {
    const socketPath = tempPath("auth.sock");
    await withAuth(defaultAuthHandler(USERS), {}, async (client, server) => {
      assert.equal(server.url, `unix:${socketPath}:/auth`);
      assert.deepEqual(await client.authenticate(plain("john doe", "s3cr%t pw")), { type: "ok", server: "10.0.0.5", port: 143 });
      assert.equal(server.requests[0].header("Host"), "localhost");
      assert.equal(server.requests[0].requestLine, "GET /auth HTTP/1.0");
    }, { path: socketPath });
  });

  test("a missing socket is a connect() failure naming the socket", async () => {
    const socketPath = tempPath("missing.sock");
    const client = new AuthHttpClient({
      url: { kind: "unix", url: `unix:${socketPath}`, path: socketPath, uri: "/" },
      headers: [],
      timeoutMs: 5000,
      keepalive: 0,
      passClientCert: false,
    });
    assert.deepEqual(await client.authenticate(plain("a", "b")), {
      type: "internal",
      reason: `connect() to unix:${socketPath} failed (2: No such file or directory) while in http auth state`,
      unreachable: true,
    });
    client.close();
  });
});
