import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { lookupAll, lookupFirst } from "../../src/resolve.ts";

describe("host names resolved by the system's resolver", () => {
  test("names under the special-use name 'invalid' are not found, in any case and with a trailing dot", async () => {
    for (const name of ["no-such-host.invalid", "INVALID", "a.b.Invalid."]) {
      await assert.rejects(lookupAll(name), { code: "ENOTFOUND", hostname: name });
      await assert.rejects(lookupFirst(name), { code: "ENOTFOUND", hostname: name });
    }
  });

  test("other names go to the resolver: localhost and a literal address resolve", async () => {
    assert.ok((await lookupAll("localhost")).some((a) => a.address === "127.0.0.1" || a.address === "::1"));
    assert.deepEqual(await lookupFirst("127.0.0.1"), { address: "127.0.0.1", family: 4 });
  });
});
