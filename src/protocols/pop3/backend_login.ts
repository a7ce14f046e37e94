/**
 * The POP3 backend login dialogue (protocols.md §6.4): greeting, USER, PASS.
 * The backend's reply to PASS goes to the client. APOP/AUTH are never used
 * towards the backend.
 */
import type { BackendLogin, BackendStep, Credentials, LoginRefusal } from "../types.ts";
import { encodeBase64 } from "../../wire/sasl.ts";
import { OAUTH_DUMMY_RESPONSE } from "../oauth.ts";
import { commandLine } from "../../wire/wire.ts";
import { pop3Command } from "../../wire/pop3.ts";

type Stage = "greeting" | "user" | "pass" | "oauth" | "oauth-ack" | "finished";

export class Pop3BackendLogin implements BackendLogin {
  private stage: Stage = "greeting";
  private oauthChallenge?: string;
  refusal?: LoginRefusal;

  /**
   * `user`/`pass`: the auth server's Auth-User/Auth-Pass when given, else the client's.
   * With `oauth` the login is `AUTH <mechanism> <payload>` instead of USER/PASS.
   */
  constructor(private readonly user: string, private readonly pass: string, private readonly oauth?: Credentials["oauth"]) {}

  onReply(reply: string): BackendStep {
    if (this.stage === "oauth" && reply.startsWith("+ ")) {
      // The RFC 7628 error challenge: answer it so the refusal follows.
      this.oauthChallenge = reply.slice(2).replace(/\r?\n$/, "");
      this.stage = "oauth-ack";
      return { type: "send", data: commandLine("pop3", OAUTH_DUMMY_RESPONSE) };
    }
    if (this.stage === "oauth" || this.stage === "oauth-ack") return this.oauthResult(reply);
    if (this.stage === "finished" || !reply.startsWith("+OK")) {
      // Some servers already refuse an unknown USER; either way it is the credentials.
      if ((this.stage === "user" || this.stage === "pass") && reply.startsWith("-ERR")) {
        const end = reply.indexOf("\r\n");
        this.refusal = { text: reply.slice(4, end < 0 ? reply.length : end).replace(/^ /, "") };
      }
      this.stage = "finished";
      return { type: "fail", reply, reason: "upstream sent invalid response" };
    }
    switch (this.stage) {
      case "greeting":
        if (this.oauth) {
          this.stage = "oauth";
          return { type: "send", data: pop3Command("AUTH", this.oauth.mechanism, encodeBase64(this.oauth.payload)) };
        }
        this.stage = "user";
        return { type: "send", data: pop3Command("USER", this.user) };
      case "user":
        this.stage = "pass";
        return { type: "send", data: pop3Command("PASS", this.pass) };
      case "pass":
        this.stage = "finished";
        return { type: "done", toClient: reply };
    }
  }

  private oauthResult(reply: string): BackendStep {
    this.stage = "finished";
    if (reply.startsWith("+OK")) return { type: "done", toClient: reply };
    if (reply.startsWith("-ERR")) {
      const end = reply.indexOf("\r\n");
      this.refusal = { text: reply.slice(4, end < 0 ? reply.length : end).replace(/^ /, "") };
      if (this.oauthChallenge !== undefined) this.refusal.oauthChallenge = this.oauthChallenge;
    }
    return { type: "fail", reply, reason: "upstream sent invalid response" };
  }
}
