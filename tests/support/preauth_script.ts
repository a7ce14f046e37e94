/**
 * Test driver for pre-auth machines (shared by the POP3 and SMTP tests): runs a
 * script of client input and session events, and checks that splitting any
 * client input at any byte offset, or feeding it byte by byte, yields exactly
 * the same actions.
 */
import assert from "node:assert/strict";
import type { Action, Credentials, LoginContext, PreauthMachine } from "../../src/protocols/types.ts";
import { MachineDriver } from "./machine_driver.ts";

export type Step =
  /** Client bytes. */
  | string
  /** The auth service refused; afterwards the session feeds "" to resume. */
  | { authFailed: string; code?: string }
  /** The TLS handshake completed. */
  | { tlsStarted: true };

export interface Run {
  actions: Action[];
  /** Bytes left behind the last command (takePending), when the machine did not close. */
  pending: string | null;
  machine: PreauthMachine;
}

/** Greet, then play the script. */
export function drive(make: () => PreauthMachine, steps: readonly Step[]): Run {
  const machine = make();
  const actions = [...machine.greeting()];
  for (const step of steps) {
    if (typeof step === "string") {
      actions.push(...machine.feed(step));
    } else if ("authFailed" in step) {
      actions.push(...machine.authFailed(step.authFailed, step.code));
      actions.push(...machine.feed(""));
    } else {
      machine.tlsStarted();
    }
  }
  const closed = actions.some((a) => a.type === "close");
  return { actions, pending: closed ? null : machine.takePending(), machine };
}

/**
 * `drive`, after asserting that every client input split at every byte offset,
 * and every input fed byte by byte, gives the same actions and pending bytes.
 */
export function check(make: () => PreauthMachine, steps: readonly Step[]): Run {
  const whole = drive(make, steps);
  const expected = { actions: whole.actions, pending: whole.pending };
  steps.forEach((step, k) => {
    if (typeof step !== "string") return;
    for (let i = 1; i < step.length; i++) {
      const split = [...steps.slice(0, k), step.slice(0, i), step.slice(i), ...steps.slice(k + 1)];
      const run = drive(make, split);
      assert.deepEqual({ actions: run.actions, pending: run.pending }, expected, `input split at ${i}: ${JSON.stringify(step)}`);
    }
  });
  const bytewise = steps.flatMap((step): Step[] => (typeof step === "string" ? [...step] : [step]));
  const run = drive(make, bytewise);
  assert.deepEqual({ actions: run.actions, pending: run.pending }, expected, "input fed byte by byte");
  return whole;
}

/**
 * What the client and session see, one entry per action: sent bytes verbatim,
 * other actions as `[close reason]`, `[starttls]`, `[auth method]`.
 */
export function render(actions: readonly Action[]): string[] {
  return actions.map((a) => {
    switch (a.type) {
      case "send":
        return a.data;
      case "close":
        return `[close ${a.reason}]`;
      case "starttls":
        return "[starttls]";
      case "auth":
        return `[auth ${a.credentials.method}]`;
      case "delay-greeting":
        return `[delay ${a.ms}]`;
    }
  });
}

/** The script's rendered actions, split-checked. */
export function talk(make: () => PreauthMachine, steps: readonly Step[]): string[] {
  return render(check(make, steps).actions);
}

/** The single auth action of a run. */
export function authOf(run: Run): { credentials: Credentials; context: LoginContext } {
  const auths = run.actions.filter((a) => a.type === "auth");
  assert.equal(auths.length, 1, "exactly one auth action");
  const auth = auths[0] as Extract<Action, { type: "auth" }>;
  return { credentials: auth.credentials, context: auth.context };
}

/** mulberry32: a tiny seeded PRNG so fuzz runs are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Feed random client bytes (biased towards command words, spaces, CR and LF) in
 * random fragments through the session core, which refuses every login (with a
 * random SMTP error code or none) and completes every STARTTLS; the driver checks
 * that the machine never throws and only sends CRLF-terminated data.
 */
export function fuzz(make: () => PreauthMachine, words: readonly string[], seed: number, rounds: number): void {
  const random = seededRandom(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)];
  const pieces = [...words, " ", " ", "\r\n", "\n", "\r", "=", "*", "AGpvaG4Ac2VjcmV0", "am9obg=="];
  for (let round = 0; round < rounds; round++) {
    const driver = new MachineDriver(make(), {
      closeAfterFailure: false,
      errorCode: () => (random() < 0.5 ? "451 4.3.0" : undefined),
    });
    let input = "";
    const length = Math.floor(random() * 400);
    while (input.length < length) {
      input += random() < 0.7
        ? pick(pieces)
        : String.fromCharCode(Math.floor(random() * 256));
    }
    for (let at = 0; at < input.length && driver.stoppedBy !== "close";) {
      driver.tlsDone();
      const size = 1 + Math.floor(random() * 40);
      driver.feed(input.slice(at, at + size));
      at += size;
    }
    driver.machine.takePending();
  }
}
