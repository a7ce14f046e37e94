/**
 * worker_connections: over the limit a new connection is refused (closed without
 * a byte) and logged; the connections already open go on.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { startProxy } from "../../support/proxy.ts";
import { WireClient } from "../../support/wire.ts";
import { freePort } from "../../support/ports.ts";
import { metrics } from "../../../src/metrics/mail_metrics.ts";

test("a connection over worker_connections is closed at once and logged while the open ones keep working", async () => {
  const port = await freePort();
  const proxy = await startProxy(`events { worker_connections 2; }
mail {
  auth_http 127.0.0.1:9;
  server { listen 127.0.0.1:${port}; protocol imap; }
}`);
  try {
    const labels = { server: `127.0.0.1:${port}`, protocol: "imap" };
    const a = await WireClient.connect(port);
    const b = await WireClient.connect(port);
    assert.equal(await a.line(), "* OK IMAP4 ready");
    assert.equal(await b.line(), "* OK IMAP4 ready");
    const over = await WireClient.connect(port);
    assert.equal(await over.rest(), "");
    assert.match(proxy.log(), /\[alert\] \d+#0: 2 worker_connections are not enough\n/);
    assert.equal(metrics.connectionsRefused.value(labels), 1);
    a.send("a1 NOOP\r\n");
    assert.equal(await a.line(), "a1 OK completed");
    b.send("b1 NOOP\r\n");
    assert.equal(await b.line(), "b1 OK completed");
    a.send("a2 LOGOUT\r\n");
    assert.deepEqual(await a.lines(2), ["* BYE", "a2 OK completed"]);
    await a.rest();
    // once a slot is free, new connections are served again
    let again: WireClient | undefined;
    for (const deadline = Date.now() + 40_000; !again && Date.now() < deadline;) {
      const c = await WireClient.connect(port);
      const first = await c.line().catch(() => undefined);
      if (first === "* OK IMAP4 ready") again = c;
      else await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(again, "no connection was accepted after a slot became free");
    again.close();
    b.close();
  } finally {
    await proxy.stop();
  }
});
