import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { ClientLeft } from "../../src/auth/client_left.ts";
import { waitUnlessAborted } from "../../src/auth/wait.ts";

describe("the session's client-left signal", () => {
  test("abort tells each listener once, functions and handleEvent objects, in the order they came", () => {
    const left = new ClientLeft();
    const heard: string[] = [];
    left.addEventListener("abort", () => heard.push("function"));
    left.addEventListener("abort", { handleEvent: () => heard.push("object") });
    assert.equal(left.aborted, false);
    left.abort();
    left.abort();
    assert.equal(left.aborted, true);
    assert.deepEqual(heard, ["function", "object"]);
  });

  test("a removed listener, or one added after the abort, is never called; one added twice is called once", () => {
    const left = new ClientLeft();
    const heard: string[] = [];
    const removed = () => heard.push("removed");
    const twice = () => heard.push("twice");
    left.addEventListener("abort", removed);
    left.addEventListener("abort", twice);
    left.addEventListener("abort", twice);
    left.removeEventListener("abort", removed);
    left.abort();
    left.addEventListener("abort", () => heard.push("late"));
    assert.deepEqual(heard, ["twice"]);
  });

  test("an Auth-Wait delay ends as soon as the client leaves", async () => {
    const left = new ClientLeft();
    const waited = waitUnlessAborted(60_000, left);
    left.abort();
    assert.equal(await waited, false);
    assert.equal(await waitUnlessAborted(60_000, left), false, "already gone: no wait at all");
  });
});
