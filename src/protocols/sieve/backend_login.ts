/**
 * The ManageSieve login towards the backend: ManageSieve has no LOGIN command, so it is
 * `AUTHENTICATE "PLAIN"` with the initial response (or the client's XOAUTH2/OAUTHBEARER
 * payload), after the greeting's capability lines. The backend's `OK` goes to the client.
 * Replies arrive in pieces: each is kept until its status line has come. No I/O.
 */
import type { BackendLogin, BackendStep, Credentials, LoginRefusal } from "../types.ts";
import { encodeBase64 } from "../../wire/sasl.ts";
import { OAUTH_DUMMY_RESPONSE } from "../oauth.ts";
import { saslPlainToken } from "../../wire/sasl.ts";
import { sieveCommand, sieveSaslResponse } from "../../wire/sieve.ts";
import type { Wire } from "../../wire/wire.ts";
import { sieveChallenge, sieveStatus } from "./response.ts";

type Stage = "greeting" | "authenticate" | "finished";

const INVALID = "upstream sent invalid response";

/**
 * @example
 *   const login = new SieveBackendLogin("alice", "secret");
 *   login.onReply('"SASL" "PLAIN"\r\nOK "Dovecot ready."\r\n'); // { type: "send", data: 'AUTHENTICATE "PLAIN" "AGFsaWNlAHNlY3JldA=="\r\n' }
 *   login.onReply('OK "Logged in."\r\n'); // { type: "done", toClient: 'OK "Logged in."\r\n' }
 */
export class SieveBackendLogin implements BackendLogin {
  private stage: Stage = "greeting";
  /** The reply so far, until its status line. */
  private received = "";
  /** The backend's RFC 7628 error challenge, kept for the refusal. */
  private oauthChallenge?: string;
  refusal?: LoginRefusal;

  /** With `oauth` the login replays the client's payload instead of PLAIN. */
  constructor(private readonly user: string, private readonly pass: string, private readonly oauth?: Credentials["oauth"]) {}

  onReply(reply: string): BackendStep {
    if (this.stage === "finished") return fail(reply);
    this.received += reply;
    const challenge = this.stage === "authenticate" && this.oauth ? sieveChallenge(this.received) : null;
    if (challenge !== null) {
      // The RFC 7628 error challenge: answer it so the refusal follows.
      this.oauthChallenge = challenge;
      this.received = "";
      return { type: "send", data: sieveSaslResponse(OAUTH_DUMMY_RESPONSE) };
    }
    const status = sieveStatus(this.received);
    if (status === null) return { type: "wait" };
    const received = this.received;
    this.received = "";
    if (this.stage === "greeting") {
      if (status.status !== "OK") return this.finish(received);
      this.stage = "authenticate";
      return { type: "send", data: this.authenticate() };
    }
    if (status.status === "OK") {
      this.stage = "finished";
      return { type: "done", toClient: received };
    }
    if (status.status === "NO") {
      this.refusal = { text: status.text };
      if (this.oauthChallenge !== undefined) this.refusal.oauthChallenge = this.oauthChallenge;
    }
    return this.finish(received);
  }

  private authenticate(): Wire<"sieve"> {
    if (this.oauth) return sieveCommand("AUTHENTICATE", this.oauth.mechanism, encodeBase64(this.oauth.payload));
    return sieveCommand("AUTHENTICATE", "PLAIN", saslPlainToken(this.user, this.pass, "sieve"));
  }

  private finish(received: string): BackendStep {
    this.stage = "finished";
    return fail(received);
  }
}

function fail(reply: string): BackendStep {
  return { type: "fail", reply, reason: INVALID };
}
