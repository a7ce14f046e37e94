/**
 * Drives a pre-auth state machine through the session core, without sockets:
 * every auth request is refused at once (after an Auth-Wait, or closing
 * afterwards), `starttls` stops the plaintext input (what follows it on the wire
 * would be TLS records) and a close ends the dialogue. The result is the whole
 * transcript, so two ways of feeding the same bytes can be compared, and the
 * contract of the machine's results is checked on every call.
 */
import assert from "node:assert/strict";
import type { Action, PreauthMachine } from "../../src/protocols/types.ts";
import type { SessionCore, SessionTimer } from "../../src/server/session_core.ts";
import { coreFor, RecordingIo } from "./session_core.ts";

export interface DriveOptions {
  /** The auth service refuses without Auth-Wait: the session closes after the reply. */
  closeAfterFailure: boolean;
  /** The refusal's SMTP error code (default "535 5.7.8"). */
  errorCode?: () => string | undefined;
}

/** A transcript entry: what the client saw or the session did. */
export type Step =
  | { type: "send"; data: string }
  | { type: "close"; reason: string }
  | { type: "auth"; method: string }
  | { type: "auth-refused" }
  | { type: "starttls" }
  | { type: "tls-started" };

/** The timers a session would see fire while the client keeps sending: the next turn, an Auth-Wait. */
const DUE: readonly SessionTimer[] = ["turn", "auth-wait"];

export class MachineDriver {
  readonly transcript: Step[] = [];
  /** No more client bytes are read: closed, or waiting for a TLS handshake. */
  stopped = false;
  /** Why the input stopped: "close", "starttls" or "" while reading. */
  stoppedBy: "" | "close" | "starttls" = "";
  private readonly io: DriverIo;
  private readonly core: SessionCore;

  constructor(readonly machine: PreauthMachine, opts: DriveOptions) {
    checkResults(machine);
    this.io = new DriverIo(this, opts);
    this.core = coreFor(machine, {}, this.io).core;
    this.core.greet();
    this.settle();
  }

  /** Feed one fragment; returns what this fragment caused (the driver's answers included). */
  feed(bytes: string): Step[] {
    if (this.stopped) return [];
    const before = this.transcript.length;
    this.core.clientBytes(bytes);
    this.settle();
    return this.transcript.slice(before);
  }

  /** The TLS handshake after `starttls` succeeded; plaintext reading resumes. */
  tlsDone(): void {
    if (this.stoppedBy !== "starttls") return;
    this.record({ type: "tls-started" });
    this.stopped = false;
    this.stoppedBy = "";
    this.core.tlsStarted();
    this.settle();
  }

  /** @internal */
  record(step: Step): void {
    this.transcript.push(step);
  }

  /** @internal */
  stop(by: "close" | "starttls"): void {
    if (by === "close") this.record({ type: "close", reason: this.core.result });
    this.stopped = true;
    this.stoppedBy = by;
  }

  /** Carry out what the session would do before the client's next bytes: answers to auth, due timers. */
  private settle(): void {
    for (;;) {
      const answer = this.io.answers.shift();
      if (answer) {
        this.core.authResult(answer);
        continue;
      }
      const timer = DUE.find((t) => this.io.armed.has(t));
      if (!timer || this.stopped) return;
      this.io.armed.delete(timer);
      this.core.timerFired(timer);
    }
  }
}

/** A recording port that also answers: auth refused, writes always taken. */
class DriverIo extends RecordingIo {
  answers: Array<{ type: "error"; text: string; wait: number; errorCode?: string }> = [];

  constructor(private readonly driver: MachineDriver, private readonly opts: DriveOptions) {
    super();
  }

  override write(data: string): boolean {
    this.driver.record({ type: "send", data });
    return true;
  }
  override askAuth(credentials: { method: string }): void {
    this.driver.record({ type: "auth", method: credentials.method });
    this.driver.record({ type: "auth-refused" });
    const wait = this.opts.closeAfterFailure ? 0 : 1;
    const errorCode = this.opts.errorCode ? this.opts.errorCode() : "535 5.7.8";
    this.answers.push({ type: "error", text: "Invalid login or password", wait, errorCode });
  }
  override upgradeTls(): void {
    this.driver.stop("starttls");
  }
  override closeAfterWrite(): void {
    this.driver.stop("close");
  }
  override destroy(): void {
    if (!this.driver.stopped) this.driver.stop("close");
  }
}

/** Check the contract of every result the machine gives the session. */
function checkResults(machine: PreauthMachine): void {
  const feed = machine.feed.bind(machine);
  const authFailed = machine.authFailed.bind(machine);
  const greeting = machine.greeting.bind(machine);
  machine.feed = (bytes, max) => checkActions(feed(bytes, max));
  machine.authFailed = (text, code, options) => checkActions(authFailed(text, code, options));
  machine.greeting = () => checkActions(greeting());
}

/** The contract of one feed()/authFailed() result. */
function checkActions(actions: Action[]): Action[] {
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
  return actions;
}

function isBinary(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 255) return false;
  return true;
}

/**
 * Feed `chunks` in order to a fresh machine; then, if STARTTLS stopped it, `afterTls` once
 * the handshake is done. Consecutive writes are one `send`: how replies are grouped
 * into writes follows the chunks.
 */
export function transcriptOf(make: () => PreauthMachine, chunks: string[], opts: DriveOptions, afterTls = ""): Step[] {
  const driver = new MachineDriver(make(), opts);
  for (const chunk of chunks) driver.feed(chunk);
  if (afterTls && driver.stoppedBy === "starttls") {
    driver.tlsDone();
    driver.feed(afterTls);
  }
  const merged: Step[] = [];
  for (const step of driver.transcript) {
    const last = merged[merged.length - 1];
    if (step.type === "send" && last?.type === "send") merged[merged.length - 1] = { type: "send", data: last.data + step.data };
    else merged.push(step);
  }
  return merged;
}
