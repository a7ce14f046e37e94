/**
 * The session core driven without sockets: a recording SessionIo that keeps every
 * action as a line ("write …", "pause", "arm idle 60000", "ask-auth plain 1"), and
 * knobs for what the shell would report back (a write that waits for the client).
 */
import type { Credentials, PreauthMachine } from "../../src/protocols/types.ts";
import { protocolLines } from "../../src/protocols/factory.ts";
import { type BackendTarget, SessionCore, type SessionIo, type SessionTimer } from "../../src/server/session_core.ts";

export class RecordingIo implements SessionIo {
  actions: string[] = [];
  /** Writes return false (the client does not read) while set. */
  blocked = false;
  /** What queued() reports. */
  queuedBytes = 0;
  /** The last connectBackend target and askAuth credentials. */
  target?: BackendTarget;
  credentials?: Credentials;
  /** Armed timers by name. */
  armed = new Set<SessionTimer>();

  write(data: string): boolean {
    this.actions.push(`write ${data}`);
    return !this.blocked;
  }
  queued(): number {
    return this.queuedBytes;
  }
  awaitDrain(): void {
    this.actions.push("await-drain");
  }
  pause(): void {
    this.actions.push("pause");
  }
  resume(): void {
    this.actions.push("resume");
  }
  armTimer(timer: SessionTimer, ms: number): void {
    this.armed.add(timer);
    this.actions.push(`arm ${timer} ${ms}`);
  }
  clearTimer(timer: SessionTimer): void {
    // Clearing a timer that is not armed is no action worth recording.
    if (this.armed.delete(timer)) this.actions.push(`clear ${timer}`);
  }
  askAuth(credentials: Credentials, attempt: number): void {
    this.credentials = credentials;
    this.actions.push(`ask-auth ${credentials.method} ${attempt}`);
  }
  connectBackend(target: BackendTarget): void {
    this.target = target;
    this.actions.push(`connect ${target.host}:${target.port}`);
  }
  backendRefused(): void {
    this.actions.push("backend-refused");
  }
  upgradeTls(): void {
    this.actions.push("upgrade-tls");
  }
  startRelay(pendingUp: string): void {
    this.actions.push(`relay ${pendingUp}`);
  }
  closeAfterWrite(): void {
    this.actions.push("close-after-write");
  }
  destroy(): void {
    this.actions.push("destroy");
  }
  ended(): void {
    this.actions.push("ended");
  }
  log(level: string, message: string): void {
    this.actions.push(`log ${level} ${message}`);
  }

  /** The actions since the last call. */
  take(): string[] {
    const out = this.actions;
    this.actions = [];
    return out;
  }
}

export const TIMEOUT = 60_000;

/** A core for `machine`'s protocol, admitted (no greeting yet); `io.take()` gives what it did. */
export function coreFor<Io extends RecordingIo = RecordingIo>(
  machine: PreauthMachine,
  settings: { proxy_pass_error_message?: boolean } = {},
  io: Io = new RecordingIo() as Io,
): { core: SessionCore; io: Io } {
  const server = { timeout: TIMEOUT, proxy_pass_error_message: settings.proxy_pass_error_message ?? false };
  const core = new SessionCore(io, protocolLines(machine.protocol), server, { conn: 1, client: "192.0.2.1", server: "127.0.0.1:143" });
  core.admitted(machine, server);
  return { core, io };
}
