/**
 * The IMAP login towards the backend (protocols.md §6.3): LOGIN with two
 * synchronising literals, reusing the client's tag; with `proxy_imap_id on`
 * (beyond nginx) an `ID` command goes first, whatever the backend answers to it.
 * No I/O.
 */
import type { BackendLogin, BackendStep, Credentials, LoginRefusal } from "../types.ts";
import { encodeBase64 } from "../../wire/sasl.ts";
import { OAUTH_DUMMY_RESPONSE } from "../oauth.ts";
import { commandLine, type Wire } from "../../wire/wire.ts";
import { imapLiteralBody, imapTagged } from "../../wire/imap.ts";

type Stage = "greeting" | "id" | "user-literal" | "pass-literal" | "oauth" | "oauth-ack" | "result";

const INVALID = "upstream sent invalid response";

/**
 * @example
 *   const login = new ImapBackendLogin("a1 ", "john", "secret");
 *   login.onReply("* OK Dovecot ready.\r\n"); // { type: "send", data: "a1 LOGIN {4}\r\n" }
 *
 * After the password, one untagged line (`* …`) before the tagged OK is
 * tolerated. If it arrives as a reply of its own, `onReply` answers
 * `{ type: "wait" }` — nothing to write, keep reading — and the line
 * is kept so that `done.toClient` carries both.
 */
export class ImapBackendLogin implements BackendLogin {
  private stage: Stage = "greeting";
  /** The untagged line already received in the result stage. */
  private untagged = "";
  /** The backend's RFC 7628 error challenge, kept for the refusal. */
  private oauthChallenge?: string;
  refusal?: LoginRefusal;

  /**
   * `tag` is the client's tag with its trailing space ("a1 "); user and password are binary strings.
   * With `oauth` the login is `AUTHENTICATE <mechanism> <payload>` (SASL-IR) instead of LOGIN.
   */
  constructor(
    private readonly tag: string,
    private readonly user: string,
    private readonly pass: string,
    private readonly oauth?: Credentials["oauth"],
    /** proxy_imap_id: the whole `<tag>ID (...)` line sent before the login (imap/id.ts). */
    private readonly idCommand?: Wire<"imap">,
  ) {}

  /** What the backend sent in answer to ID so far. */
  private idReply = "";

  onReply(reply: string): BackendStep {
    switch (this.stage) {
      case "greeting":
        if (!reply.startsWith("* OK")) return fail(reply);
        if (this.idCommand) {
          this.stage = "id";
          return { type: "send", data: this.idCommand };
        }
        return this.login();
      case "id":
        // `* ID (...)` then the tagged answer, in one reply or several. OK, NO or BAD:
        // a backend that does not know ID still gets the login.
        this.idReply += reply;
        if (!this.idReply.split("\r\n").some((line) => line.startsWith(this.tag))) return { type: "wait" };
        return this.login();
      case "oauth":
        return this.oauthReply(reply);
      case "oauth-ack":
        return this.result(this.untagged + reply);
      case "user-literal":
        if (!reply.startsWith("+")) return fail(reply);
        this.stage = "pass-literal";
        return { type: "send", data: imapLiteralBody(this.user, this.pass.length) };
      case "pass-literal":
        if (!reply.startsWith("+")) return fail(reply);
        this.stage = "result";
        return { type: "send", data: imapLiteralBody(this.pass) };
      case "result":
        return this.result(this.untagged + reply);
    }
  }

  /** The login command proper: AUTHENTICATE with the OAuth payload, or LOGIN. */
  private login(): BackendStep {
    if (this.oauth) {
      this.stage = "oauth";
      return { type: "send", data: imapTagged(this.tag, `AUTHENTICATE ${this.oauth.mechanism} ${encodeBase64(this.oauth.payload)}`) };
    }
    this.stage = "user-literal";
    return { type: "send", data: imapTagged(this.tag, `LOGIN {${this.user.length}}`) };
  }

  /** The answer to AUTHENTICATE with the OAuth payload. */
  private oauthReply(reply: string): BackendStep {
    if (reply.startsWith("+")) {
      // The RFC 7628 error challenge: finish the exchange so the refusal arrives tagged.
      this.oauthChallenge = lineText(reply.slice(1));
      this.stage = "oauth-ack";
      return { type: "send", data: commandLine("imap", OAUTH_DUMMY_RESPONSE) };
    }
    return this.result(this.untagged + reply);
  }

  /** `received` is everything the backend sent after the password. */
  private result(received: string): BackendStep {
    let tagged = received;
    if (received.startsWith("* ")) {
      const lineEnd = received.indexOf("\n");
      tagged = received.slice(lineEnd + 1);
      if (tagged === "") {
        this.untagged = received;
        return { type: "wait" };
      }
    }
    if (tagged.startsWith(`${this.tag}OK`)) return { type: "done", toClient: received };
    if (tagged.startsWith(`${this.tag}NO`)) {
      this.refusal = { text: lineText(tagged.slice(this.tag.length + 2)) };
      if (this.oauthChallenge !== undefined) this.refusal.oauthChallenge = this.oauthChallenge;
    }
    return fail(received);
  }
}

/** The first line's text after the status word, without CRLF and the separating space. */
function lineText(rest: string): string {
  const end = rest.indexOf("\r\n");
  return (end < 0 ? rest : rest.slice(0, end)).replace(/^ /, "");
}

function fail(reply: string): BackendStep {
  return { type: "fail", reply, reason: INVALID };
}
