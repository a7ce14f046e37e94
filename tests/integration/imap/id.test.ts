/**
 * IMAP ID through the proxy (beyond nginx): the client's ID before login
 * (imap_id on) and the ID line in front of the backend login (proxy_imap_id on),
 * as a scripted backend records it byte for byte and as a real Dovecot logs it:
 * the client's real address (127.0.0.5) instead of the proxy's.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { startProxy, type RunningProxy } from "../../support/proxy.ts";
import { type ScriptedBackend, startScriptedBackend } from "../../support/scripted_backend.ts";
import { type DovecotBackend, startDovecot } from "../../support/backends.ts";
import { freePort } from "../../support/ports.ts";

/** A line client bound to a chosen loopback source address. */
class Client {
  private buffer = "";
  private waiters: Array<() => void> = [];
  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d: Buffer) => {
      this.buffer += d.toString("latin1");
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }
  static connect(port: number, localAddress: string): Promise<Client> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: "127.0.0.1", localAddress }, () => resolve(new Client(socket)));
      socket.once("error", reject);
    });
  }
  send(text: string): void {
    this.socket.write(Buffer.from(text, "latin1"));
  }
  async line(): Promise<string> {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const i = this.buffer.indexOf("\r\n");
      if (i >= 0) {
        const l = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 2);
        return l;
      }
      if (Date.now() > deadline) throw new Error(`no line; buffered ${JSON.stringify(this.buffer)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  close(): void {
    this.socket.destroy();
  }
}

async function waitForLog(read: () => Promise<string>, needle: string): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const line = (await read()).split("\n").find((l) => l.includes(needle));
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no log line with ${needle}:\n${await read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function proxyTo(backendPort: number, extra: string): Promise<{ proxy: RunningProxy; port: number }> {
  const port = await freePort();
  const proxy = await startProxy(`mail {
    server {
      listen 127.0.0.1:${port};
      protocol imap;
      proxy_pass 127.0.0.1:${backendPort};
      ${extra}
    }
  }`);
  return { proxy, port };
}

describe("ID with a scripted backend", () => {
  let backend: ScriptedBackend;
  let setup: { proxy: RunningProxy; port: number };

  before(async () => {
    backend = await startScriptedBackend((b) => {
      b.send("* OK backend ready\r\n");
      b.socket.on("data", () => {
        const got = b.received();
        if (got.endsWith(")\r\n")) b.send('* ID ("name" "backend")\r\na1 OK ID completed\r\n');
        else if (got.endsWith("}\r\n")) b.send("+ OK\r\n");
        else if (got.endsWith("pw\r\n")) b.send("a1 OK logged in\r\n");
      });
    });
    setup = await proxyTo(backend.port, "imap_id on; proxy_imap_id on;");
  });
  after(async () => {
    await setup.proxy.stop();
    await backend.close();
  });

  test("the backend receives the client's ID fields (without its x-* ones) and the real addresses before LOGIN", async () => {
    const c = await Client.connect(setup.port, "127.0.0.5");
    const clientPort = c.socket.localPort!;
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send('i1 ID ("name" "mutt" "x-originating-ip" "6.6.6.6" "version" NIL)\r\n');
    assert.equal(await c.line(), "* ID NIL");
    assert.equal(await c.line(), "i1 OK completed");
    c.send("a1 LOGIN john pw\r\n");
    assert.equal(await c.line(), "a1 OK logged in");
    assert.equal(
      backend.connections[0]!.received(),
      `a1 ID ("name" "mutt" "version" NIL "x-originating-ip" "127.0.0.5" "x-originating-port" "${clientPort}" ` +
        `"x-connected-ip" "127.0.0.1" "x-connected-port" "${setup.port}")\r\n` +
        "a1 LOGIN {4}\r\njohn {2}\r\npw\r\n",
    );
    c.close();
  });
});

describe("ID with a real Dovecot (login_trusted_networks = 127.0.0.0/8)", () => {
  let dovecot: DovecotBackend;
  let withId: { proxy: RunningProxy; port: number };
  let withoutId: { proxy: RunningProxy; port: number };

  before(async () => {
    dovecot = await startDovecot({ users: [{ user: "alice", password: "secret" }, { user: "bob", password: "secret" }] });
    withId = await proxyTo(dovecot.imapPort, "imap_id on; proxy_imap_id on;");
    withoutId = await proxyTo(dovecot.imapPort, "");
  });
  after(async () => {
    await withId.proxy.stop();
    await withoutId.proxy.stop();
    await dovecot.stop();
  });

  test("Dovecot logs the client's own address with proxy_imap_id on", async () => {
    const c = await Client.connect(withId.port, "127.0.0.5");
    assert.equal(await c.line(), "* OK IMAP4 ready");
    c.send('i1 ID ("name" "test-client")\r\n');
    assert.equal(await c.line(), "* ID NIL");
    assert.equal(await c.line(), "i1 OK completed");
    c.send("a1 LOGIN alice secret\r\n");
    assert.match(await c.line(), /^a1 OK .*Logged in$/);
    c.send("a2 LOGOUT\r\n");
    c.close();
    const line = await waitForLog(dovecot.log, "Login: user=<alice>");
    assert.match(line, /Login: user=<alice>, method=PLAIN, rip=127\.0\.0\.5, lip=127\.0\.0\.1,/);
  });

  test("without it Dovecot sees only the proxy", async () => {
    const c = await Client.connect(withoutId.port, "127.0.0.5");
    await c.line();
    c.send("a1 LOGIN bob secret\r\n");
    assert.match(await c.line(), /^a1 OK .*Logged in$/);
    c.close();
    const line = await waitForLog(dovecot.log, "Login: user=<bob>");
    assert.match(line, /Login: user=<bob>, method=PLAIN, rip=127\.0\.0\.1, lip=127\.0\.0\.1,/);
  });
});
