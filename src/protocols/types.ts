/**
 * The contract between the protocol state machines and the socket layer.
 *
 * A state machine never touches a socket: it is fed client bytes and returns
 * actions. All protocol text is a "binary string" (latin1: one char = one byte),
 * so user names and passwords travel byte-exact and the auth_http escaping can
 * work byte-wise. The socket layer decodes and encodes with "latin1".
 */
import type { Protocol } from "../config/model.ts";
import type { OAuthMechanism } from "./oauth.ts";
import type { BackendWire } from "../wire/wire.ts";

export type AuthMethod = "plain" | "apop" | "cram-md5" | "external" | "none" | "xoauth2" | "oauthbearer";

/** What the client proved; becomes an auth_http request. */
export interface Credentials {
  method: AuthMethod;
  /** Binary string; empty for `none`. */
  user: string;
  /** Password, APOP/CRAM-MD5 digest or OAuth token; empty for `none` and `external`. */
  pass: string;
  /** The session salt for `apop` and `cram-md5`. */
  salt?: string;
  /** Only for SMTP `none`: Auth-SMTP-Helo/From/To. */
  smtp?: { helo: string; from: string; to: string };
  /**
   * XOAUTH2/OAUTHBEARER: the mechanism and the client's decoded payload, replayed
   * byte-exact to the backend unless the auth service returns Auth-Pass.
   */
  oauth?: { mechanism: OAuthMechanism; payload: string };
}

/**
 * What the backend login needs to know about the client's dialogue beyond the
 * credentials (IMAP tag, SMTP HELO/EHLO and the stored MAIL/RCPT lines).
 */
export interface LoginContext {
  /** IMAP: the tag of the authenticating command, with its trailing space ("a1 "). */
  imapTag?: string;
  /** IMAP: the client's ID fields (imap_id on), name → value or null for NIL. */
  imapId?: Array<[string, string | null]>;
  /** SMTP: the client's last HELO/EHLO argument ("" when none). */
  smtpHelo?: string;
  /** SMTP: true once the client used EHLO. */
  smtpEsmtp?: boolean;
  /** SMTP `none`: the stored MAIL and RCPT command texts. */
  smtpMail?: string;
  smtpRcpt?: string;
}

export type Action =
  /** Write these bytes (binary string) to the client. */
  | { type: "send"; data: string }
  /** Close the connection once everything before it has been written. */
  | { type: "close"; reason: CloseReason }
  /**
   * Ask the auth service. The machine stops consuming input until the session
   * calls `authFailed()` or hands the connection to the backend.
   */
  | { type: "auth"; credentials: Credentials; context: LoginContext }
  /** Upgrade to TLS now. Bytes already buffered after the command were discarded by the machine. */
  | { type: "starttls" }
  /**
   * Only from `greeting()`: wait `ms` before greeting (SMTP smtp_greeting_delay). Client
   * bytes meanwhile go to `earlyInput()`; once the wait is over, `greeting()` greets.
   */
  | { type: "delay-greeting"; ms: number };

/** The `send` action, the one every machine returns most. */
export function send(data: string): Action {
  return { type: "send", data };
}

export type CloseReason =
  | "quit" // LOGOUT / QUIT
  | "too-many-errors" // max_errors reached (log: client sent too many invalid commands)
  | "too-long" // command buffer overflow (log: client sent too long command)
  | "unknown-literal" // IMAP invalid line ending in {N+}
  | "auth-failed" // auth error without Auth-Wait
  | "pipelining" // SMTP talked before the greeting
  | "internal-error";

/** The per-protocol lines the session layer sends on its own initiative. */
export interface ProtocolLines {
  /** `* BAD internal server error`, `-ERR internal server error`, `451 4.3.2 Internal server error` (with CRLF). */
  internalError: string;
  /** Invalid client certificate after a handshake. */
  certError: string;
  /** `ssl_verify_client on` and no certificate. */
  certRequired: string;
  /** Graceful shutdown goodbye. */
  shutdown: string;
  /** `limit_conn` refused the connection; it closes after this line. */
  tooManyConnections: string;
  /** `limit_login` refused a login: the auth failure it stands for (text, SMTP code). */
  tooManyFailures: { text: string; errorCode?: string };
}

export interface AuthFailureOptions {
  /** The caller closes after the failure reply (no Auth-Wait). */
  closeAfter?: boolean;
  /** Base64 error challenge to send instead of the default (a passthrough backend's own). */
  oauthChallenge?: string;
}

/** One client's pre-authentication dialogue. */
export interface PreauthMachine {
  readonly protocol: Protocol;
  /** Start the dialogue: the greeting, or first a `delay-greeting` action. */
  greeting(): Action[];
  /** The client talked during a `delay-greeting` wait: the protocol's refusal (machines that delay have it). */
  earlyInput?(): Action[];
  /**
   * Feed client bytes (may be any fragment: half a line, several lines). Returns
   * the actions for every complete command, in order; stops after an `auth`,
   * `starttls` or `close` action and keeps the rest buffered. Call with "" to
   * resume processing buffered input.
   *
   * `maxActions`: stop handling commands once this many actions are due (the
   * rest stays buffered; 0 only buffers). The session answers pipelined
   * commands a batch at a time, and none while replies wait to be written.
   */
  feed(bytes: string, maxActions?: number): Action[];
  /**
   * The auth service refused. `text` is the Auth-Status value, `errorCode` the
   * SMTP Auth-Error-Code. Returns the error reply; the machine is back in its
   * initial state. The caller closes afterwards unless Auth-Wait was given.
   *
   * After XOAUTH2/OAUTHBEARER the reply is the RFC 7628 error challenge instead
   * and `awaitingFailureAck` is true: the caller keeps feeding client bytes, and
   * the failure reply follows the client's dummy response. With
   * `options.closeAfter` the machine then stops (state closed, no `close`
   * action: the caller closes once `awaitingFailureAck` turns false).
   */
  authFailed(text: string, errorCode?: string, options?: AuthFailureOptions): Action[];
  /** True between an RFC 7628 error challenge and the client's dummy response. */
  readonly awaitingFailureAck?: boolean;
  /**
   * The TLS handshake after `starttls` completed. Returns what the protocol says on the
   * new TLS layer unasked (ManageSieve re-issues its capabilities, RFC 5804 §2.2).
   */
  tlsStarted(): Action[];
  /** Bytes the client sent after the authenticating command; forwarded to the backend by the relay. */
  takePending(): string;
  /** Protocol lines for the session layer. */
  readonly lines: ProtocolLines;
}

/**
 * Backend login dialogue (protocols.md §6), apart from socket I/O. The caller
 * frames backend replies (see upstream/reply_framer.ts) and feeds whole replies.
 */
export interface BackendLogin {
  /** Feed one complete backend reply (all its lines, CRLF included). */
  onReply(reply: string): BackendStep;
  /**
   * Set when the `fail` step was the backend refusing the credentials (IMAP
   * `NO`, POP3 `-ERR`, SMTP 4xx/5xx to AUTH) rather than a broken dialogue.
   * With the passthrough backend this is the login's answer to the client.
   */
  readonly refusal?: LoginRefusal;
}

/** The backend's refusal text without the tag/status prefix; SMTP also its code ("535 5.7.8"). */
export interface LoginRefusal {
  text: string;
  errorCode?: string;
  /** The backend's RFC 7628 error challenge (base64), when it sent one before refusing. */
  oauthChallenge?: string;
}

export type BackendStep =
  /** Write this to the backend and wait for the next reply. Only src/wire/ encoders make `BackendWire`. */
  | { type: "send"; data: BackendWire }
  /** Nothing to write; keep reading (the reply was a part of a longer answer). */
  | { type: "wait" }
  /** Login done: send `toClient` to the client, then relay. */
  | { type: "done"; toClient: string }
  /** The reply did not match; `reply` is the backend's whole reply (for proxy_pass_error_message). */
  | { type: "fail"; reply: string; reason: string };
