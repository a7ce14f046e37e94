/**
 * The POP3 backend login dialogue (protocols.md §6.4): greeting, USER, PASS.
 * The backend's reply to PASS goes to the client. APOP/AUTH are never used
 * towards the backend.
 */
import type { BackendLogin, BackendStep, LoginRefusal } from "../types.ts";

type Stage = "greeting" | "user" | "pass" | "finished";

export class Pop3BackendLogin implements BackendLogin {
  private stage: Stage = "greeting";
  refusal?: LoginRefusal;

  /** `user`/`pass`: the auth server's Auth-User/Auth-Pass when given, else the client's. */
  constructor(private readonly user: string, private readonly pass: string) {}

  onReply(reply: string): BackendStep {
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
        this.stage = "user";
        return { type: "send", data: `USER ${this.user}\r\n` };
      case "user":
        this.stage = "pass";
        return { type: "send", data: `PASS ${this.pass}\r\n` };
      case "pass":
        this.stage = "finished";
        return { type: "done", toClient: reply };
    }
  }
}
