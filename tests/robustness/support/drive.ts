/**
 * Drives a pre-auth state machine the way the session does, without sockets:
 * every `auth` action is answered at once with a refusal (as with Auth-Wait, or
 * closing afterwards), `starttls` stops the plaintext input (what follows it on
 * the wire would be TLS records) and `close` ends the dialogue. The result is
 * the whole transcript of actions, so two ways of feeding the same bytes can be
 * compared, and the contract of `feed()` is checked on every call.
 */
import assert from "node:assert/strict";
import type { Action, PreauthMachine } from "../../../src/protocols/types.ts";

export interface DriveOptions {
  /** The auth service refuses without Auth-Wait: the session closes after the reply. */
  closeAfterFailure: boolean;
}

/** A transcript entry: the machine's action, or what the driver did in reply. */
export type Step = Action | { type: "auth-refused" } | { type: "tls-started" };

export class MachineDriver {
  readonly transcript: Step[] = [];
  /** No more client bytes are read: closed, or waiting for a TLS handshake. */
  stopped = false;
  /** Why the input stopped: "close", "starttls" or "" while reading. */
  stoppedBy: "" | "close" | "starttls" = "";
  private closeAfterAck = false;

  constructor(readonly machine: PreauthMachine, private readonly opts: DriveOptions) {
    this.settle(machine.greeting());
  }

  /** Feed one fragment; returns the actions this fragment caused (the driver's answers included). */
  feed(bytes: string): Step[] {
    if (this.stopped) return [];
    const before = this.transcript.length;
    this.settle(this.machine.feed(bytes));
    return this.transcript.slice(before);
  }

  /** The TLS handshake after a `starttls` action succeeded; plaintext reading resumes. */
  tlsDone(): void {
    if (this.stoppedBy !== "starttls") return;
    this.transcript.push({ type: "tls-started" });
    this.stopped = false;
    this.stoppedBy = "";
    this.settle(this.machine.tlsStarted());
  }

  private settle(actions: Action[]): void {
    for (;;) {
      checkActions(actions);
      this.transcript.push(...actions);
      const last = actions[actions.length - 1];
      if (last?.type === "close" || last?.type === "starttls") {
        this.stop(last.type);
        return;
      }
      if (last?.type !== "auth") {
        if (this.closeAfterAck && !this.machine.awaitingFailureAck) this.stop("close");
        return;
      }
      this.transcript.push({ type: "auth-refused" });
      const closeAfter = this.opts.closeAfterFailure;
      const reply = this.machine.authFailed("Invalid login or password", "535 5.7.8", closeAfter ? { closeAfter } : {});
      checkActions(reply);
      this.transcript.push(...reply);
      if (closeAfter && !this.machine.awaitingFailureAck) {
        this.stop("close");
        return;
      }
      if (closeAfter) this.closeAfterAck = true;
      actions = this.machine.feed("");
    }
  }

  private stop(by: "close" | "starttls"): void {
    this.stopped = true;
    this.stoppedBy = by;
  }
}

/** The contract of one feed()/authFailed() result. */
function checkActions(actions: Action[]): void {
  actions.forEach((action, i) => {
    if (action.type === "send") {
      assert.ok(action.data.length > 0, "a send action carries bytes");
      assert.ok(action.data.endsWith("\r\n"), `every reply ends in CRLF: ${JSON.stringify(action.data)}`);
      assert.ok(isBinary(action.data), "replies are binary strings");
    } else {
      // auth, starttls and close stop the machine: nothing may follow them in one result.
      assert.equal(i, actions.length - 1, `${action.type} is the last action of a feed`);
    }
    if (action.type === "auth") {
      assert.ok(isBinary(action.credentials.user) && isBinary(action.credentials.pass), "credentials are binary strings");
    }
  });
}

function isBinary(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 255) return false;
  return true;
}

/** Feed `chunks` in order to a fresh machine; then, if STARTTLS stopped it, `afterTls` once the handshake is done. */
export function transcriptOf(make: () => PreauthMachine, chunks: string[], opts: DriveOptions, afterTls = ""): Step[] {
  const driver = new MachineDriver(make(), opts);
  for (const chunk of chunks) driver.feed(chunk);
  if (afterTls && driver.stoppedBy === "starttls") {
    driver.tlsDone();
    driver.feed(afterTls);
  }
  return driver.transcript;
}
