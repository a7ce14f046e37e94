/**
 * The SMTP backend login dialogue (protocols.md §6.5): greeting, EHLO/HELO with
 * the proxy's name, optional XCLIENT and replay of the client's HELO/EHLO, then
 * either AUTH PLAIN (`proxy_smtp_auth`), the replayed MAIL/RCPT (`smtp_auth
 * none`), or nothing.
 */
import type { AuthMethod, BackendLogin, BackendStep, Credentials, LoginContext, LoginRefusal } from "../types.ts";
import { encodeBase64 } from "../../wire/sasl.ts";
import { OAUTH_DUMMY_RESPONSE } from "../oauth.ts";
import { commandLine, type Wire } from "../../wire/wire.ts";
import { smtpCommand, xclientCommand } from "../../wire/smtp.ts";
import { saslPlainToken } from "../../wire/sasl.ts";

export interface SmtpBackendLoginOptions {
  /** The proxy's server_name, used in its own EHLO/HELO. */
  serverName: string;
  /** `xclient` directive. */
  xclient: boolean;
  /** `proxy_smtp_auth` directive. */
  proxySmtpAuth: boolean;
  /** Client IP after realip; an IPv6 address gets the `IPV6:` prefix in XCLIENT. */
  clientAddr: string;
  /** Client-Host value (§5.1), sent as XCLIENT NAME= unencoded. */
  clientHost: string;
  /** Auth-User if given, else the client's user; undefined or "" when unknown. */
  user?: string;
  /** Auth-Pass if given, else the client's plaintext password; undefined when unknown. */
  pass?: string;
  method: AuthMethod;
  context: LoginContext;
  /** XOAUTH2/OAUTHBEARER without Auth-Pass: `AUTH <mechanism> <client payload>` instead of AUTH PLAIN. */
  oauth?: Credentials["oauth"];
}

/** What the proxy sent last, i.e. which reply it waits for. */
type Stage = "greeting" | "hello" | "xclient" | "client-hello" | "auth" | "mail" | "rcpt" | "finished";

const CLIENT_SUCCESS = "235 2.0.0 OK\r\n";
const INVALID_RESPONSE = "upstream sent invalid response";

export class SmtpBackendLogin implements BackendLogin {
  private stage: Stage = "greeting";
  /** The backend's RFC 7628 error challenge, once answered. */
  private oauthChallenge?: string;
  refusal?: LoginRefusal;

  constructor(private readonly opts: SmtpBackendLoginOptions) {}

  onReply(reply: string): BackendStep {
    const stage = this.stage;
    if (stage === "auth" && this.opts.oauth && this.oauthChallenge === undefined && reply.startsWith("334 ")) {
      // The RFC 7628 error challenge: answer it so the refusal (535) follows.
      this.oauthChallenge = reply.slice(4).replace(/\r\n$/, "");
      return { type: "send", data: commandLine("smtp", OAUTH_DUMMY_RESPONSE) };
    }
    if (stage === "finished" || !replyMatches(stage, reply)) {
      if (stage === "auth") {
        this.refusal = smtpRefusal(reply);
        if (this.refusal && this.oauthChallenge !== undefined) this.refusal.oauthChallenge = this.oauthChallenge;
      }
      return this.fail(reply, INVALID_RESPONSE);
    }
    switch (stage) {
      case "greeting": {
        const ehlo = this.opts.context.smtpEsmtp || this.opts.xclient;
        return this.send("hello", smtpCommand(`${ehlo ? "EHLO" : "HELO"} ${this.opts.serverName}`));
      }
      case "hello":
        if (this.opts.xclient) return this.send("xclient", this.xclientLine());
        return this.afterHello();
      case "xclient": {
        const helo = this.opts.context.smtpHelo ?? "";
        if (helo !== "") {
          return this.send("client-hello", smtpCommand(`${this.opts.context.smtpEsmtp ? "EHLO" : "HELO"} ${helo}`));
        }
        return this.afterHello();
      }
      case "client-hello":
        return this.afterHello();
      case "auth":
        return this.done(CLIENT_SUCCESS);
      case "mail":
        return this.send("rcpt", smtpCommand(this.opts.context.smtpRcpt ?? ""));
      case "rcpt":
        return this.done(reply);
    }
  }

  /** The greeting and hello steps are done: authenticate, replay MAIL, or finish. */
  private afterHello(): BackendStep {
    if (this.opts.method === "none") return this.send("mail", smtpCommand(this.opts.context.smtpMail ?? ""));
    if (!this.opts.proxySmtpAuth) return this.done(CLIENT_SUCCESS);
    const oauth = this.opts.oauth;
    if (oauth) return this.send("auth", smtpCommand(`AUTH ${oauth.mechanism} ${encodeBase64(oauth.payload)}`));
    if (this.opts.pass === undefined) return this.fail("", "no password available");
    return this.send("auth", smtpCommand(`AUTH PLAIN ${saslPlainToken(this.opts.user ?? "", this.opts.pass, "smtp")}`));
  }

  private xclientLine(): Wire<"smtp"> {
    const { clientAddr, clientHost, user, proxySmtpAuth } = this.opts;
    return xclientCommand({ addr: clientAddr, name: clientHost, ...(user && !proxySmtpAuth ? { login: user } : {}) });
  }

  private send(next: Stage, data: Wire<"smtp">): BackendStep {
    this.stage = next;
    return { type: "send", data };
  }

  private done(toClient: string): BackendStep {
    this.stage = "finished";
    return { type: "done", toClient };
  }

  private fail(reply: string, reason: string): BackendStep {
    this.stage = "finished";
    return { type: "fail", reply, reason };
  }
}

/**
 * A 4xx/5xx answer to AUTH: the last line's code and enhanced status, and its text.
 * @example smtpRefusal("535 5.7.8 Error: authentication failed\r\n")
 *   // { errorCode: "535 5.7.8", text: "Error: authentication failed" }
 */
function smtpRefusal(reply: string): LoginRefusal | undefined {
  const lines = reply.split("\r\n").filter((l) => l !== "");
  const last = lines[lines.length - 1] ?? "";
  const m = /^([45]\d\d)[ -](?:([245]\.\d{1,3}\.\d{1,3}) )?(.*)$/.exec(last);
  if (!m) return undefined;
  return { errorCode: m[2] ? `${m[1]} ${m[2]}` : m[1], text: m[3] };
}

/** Only the start of the reply is checked, as nginx does (protocols.md §6.2). */
function replyMatches(stage: Stage, reply: string): boolean {
  switch (stage) {
    case "greeting":
      return reply.startsWith("220");
    case "xclient":
      return reply.startsWith("220") || reply.startsWith("250");
    case "auth":
      return reply.startsWith("235");
    case "rcpt":
      return true;
    default:
      return reply.startsWith("250");
  }
}
