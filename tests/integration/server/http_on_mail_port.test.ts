/**
 * An HTTP client on a mail port (a browser led there by a cross-protocol attack): curl
 * POSTs a form whose body holds mail commands. The proxy closes the connection after
 * its greeting; no line of the request runs as a command and the auth service is
 * never asked.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type AuthServer, routeTo, startAuthServer } from "../../support/auth_server.ts";
import { proxyFor, type Setup } from "../../support/proxy.ts";
import { run } from "../../support/mail_clients.ts";

const GREETINGS = {
  imap: "* OK IMAP4 ready\r\n",
  pop3: "+OK POP3 ready\r\n",
  smtp: "220 mx.example.com ESMTP ready\r\n",
} as const;

const BODY = { imap: "a LOGIN alice secret\r\n", pop3: "USER alice\r\nPASS secret\r\n", smtp: "AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n" };

describe("an HTTP request on a mail port", () => {
  let auth: AuthServer;
  const setups: Partial<Record<keyof typeof GREETINGS, Setup>> = {};

  before(async () => {
    auth = await startAuthServer(routeTo(9));
    for (const protocol of ["imap", "pop3", "smtp"] as const) setups[protocol] = await proxyFor(protocol, auth.url);
  });

  after(async () => {
    for (const s of Object.values(setups)) await s.proxy.stop();
    await auth.close();
  });

  for (const protocol of ["imap", "pop3", "smtp"] as const) {
    test(`${protocol}: curl's POST gets the greeting and a closed connection, its body never runs`, async () => {
      const { port, proxy } = setups[protocol]!;
      const r = await run("curl", ["-s", "--http0.9", "--max-time", "10", "--data-binary", BODY[protocol], `http://127.0.0.1:${port}/`]);
      assert.equal(r.timedOut, false);
      assert.equal(r.stdout, GREETINGS[protocol]);
      assert.equal(auth.requests.length, 0);
      assert.match(proxy.log(), /\[info\] .*client sent HTTP request to mail port, closing/);
    });
  }
});
