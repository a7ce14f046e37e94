/**
 * SASL exchanges shared by IMAP AUTHENTICATE, POP3 AUTH and SMTP AUTH
 * (protocols.md §2). Pure functions over binary strings; the protocol machines
 * add their own prompt prefix (`+ ` or `334 `) and error lines.
 */
import type { Credentials } from "./types.ts";
import { type OAuthMechanism, parseOAuth } from "./oauth.ts";
import { encodeBase64 } from "../wire/sasl.ts";

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(256).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/**
 * nginx's base64 decoding: stops at the first `=`, rejects any other character
 * outside the alphabet and a data length of 1 mod 4. Returns a binary string or null.
 * @example decodeBase64("AGpvaG4Ac2VjcmV0") // "\0john\0secret"
 */
export function decodeBase64(text: string): string | null {
  let end = text.indexOf("=");
  if (end < 0) end = text.length;
  if (end % 4 === 1) return null;
  let out = "";
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < end; i++) {
    const code = text.charCodeAt(i);
    const v = code < 256 ? B64_INDEX[code] : -1;
    if (v < 0) return null;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 0xff);
    }
  }
  return out;
}

/** `authzid NUL authcid NUL passwd`; both NULs are required, the authzid is discarded. */
export function parsePlain(decoded: string): { user: string; pass: string } | null {
  const first = decoded.indexOf("\0");
  if (first < 0) return null;
  const second = decoded.indexOf("\0", first + 1);
  if (second < 0) return null;
  return { user: decoded.slice(first + 1, second), pass: decoded.slice(second + 1) };
}

export const PROMPT_USERNAME = "VXNlcm5hbWU6";
export const PROMPT_PASSWORD = "UGFzc3dvcmQ6";

export type SaslMechanism = "PLAIN" | "LOGIN" | "CRAM-MD5" | "EXTERNAL" | OAuthMechanism;

/** XOAUTH2 and OAUTHBEARER: the client's payload is kept for the backend login. */
export function isOAuthMechanism(mechanism: SaslMechanism): mechanism is OAuthMechanism {
  return mechanism === "XOAUTH2" || mechanism === "OAUTHBEARER";
}

export type SaslResult =
  /** Send this challenge (base64 text, may be empty) with the protocol's prompt prefix, then call `step`. */
  | { type: "challenge"; text: string }
  /** The exchange finished. */
  | { type: "done"; credentials: Credentials }
  /** Malformed step (bad base64, bad PLAIN, bad CRAM digest, wrong argument count). */
  | { type: "invalid" };

/**
 * One SASL exchange in progress. Created by `startSasl`, fed each client
 * continuation line (only its first space-separated token is used).
 */
export class SaslExchange {
  private stage = 0;
  private user = "";
  /** The salt the CRAM-MD5 challenge showed; the credentials must carry the same one. */
  private challengeSalt = "";

  constructor(readonly mechanism: SaslMechanism, private readonly salt: () => string) {}

  /** `initial` is the optional initial-response argument; `extraArgs` counts arguments after it. */
  begin(initial: string | undefined, extraArgs: number): SaslResult {
    if (extraArgs > 0) return { type: "invalid" };
    switch (this.mechanism) {
      case "PLAIN":
        return initial === undefined ? { type: "challenge", text: "" } : this.plain(initial);
      case "LOGIN":
        if (initial === undefined) return { type: "challenge", text: PROMPT_USERNAME };
        return this.loginUser(initial);
      case "CRAM-MD5":
        if (initial !== undefined) return { type: "invalid" };
        this.stage = 1;
        this.challengeSalt = this.salt();
        return { type: "challenge", text: encodeBase64(this.challengeSalt) };
      case "EXTERNAL":
        if (initial === undefined) return { type: "challenge", text: PROMPT_USERNAME };
        return this.external(initial);
      case "XOAUTH2":
      case "OAUTHBEARER":
        return initial === undefined ? { type: "challenge", text: "" } : this.oauth(this.mechanism, initial);
    }
  }

  /** The client's reply to the last challenge. */
  step(line: string): SaslResult {
    const token = line.split(" ", 1)[0];
    switch (this.mechanism) {
      case "PLAIN":
        return this.plain(token);
      case "LOGIN":
        return this.stage === 0 ? this.loginUser(token) : this.loginPass(token);
      case "CRAM-MD5":
        return this.cram(token);
      case "EXTERNAL":
        return this.external(token);
      case "XOAUTH2":
      case "OAUTHBEARER":
        return this.oauth(this.mechanism, token);
    }
  }

  private plain(b64: string): SaslResult {
    const decoded = decodeBase64(b64);
    const parsed = decoded === null ? null : parsePlain(decoded);
    if (!parsed) return { type: "invalid" };
    return { type: "done", credentials: { method: "plain", user: parsed.user, pass: parsed.pass } };
  }

  private loginUser(b64: string): SaslResult {
    const user = decodeBase64(b64);
    if (user === null) return { type: "invalid" };
    this.user = user;
    this.stage = 1;
    return { type: "challenge", text: PROMPT_PASSWORD };
  }

  private loginPass(b64: string): SaslResult {
    const pass = decodeBase64(b64);
    if (pass === null) return { type: "invalid" };
    return { type: "done", credentials: { method: "plain", user: this.user, pass } };
  }

  private cram(b64: string): SaslResult {
    const decoded = decodeBase64(b64);
    if (decoded === null) return { type: "invalid" };
    const space = decoded.indexOf(" ");
    if (space < 0) return { type: "invalid" };
    const digest = decoded.slice(space + 1);
    if (digest.length !== 32) return { type: "invalid" };
    return {
      type: "done",
      credentials: { method: "cram-md5", user: decoded.slice(0, space), pass: digest, salt: this.challengeSalt },
    };
  }

  private oauth(mechanism: OAuthMechanism, b64: string): SaslResult {
    const payload = decodeBase64(b64);
    const parsed = payload === null ? null : parseOAuth(mechanism, payload);
    if (!parsed || payload === null) return { type: "invalid" };
    const method = mechanism === "XOAUTH2" ? "xoauth2" : "oauthbearer";
    return { type: "done", credentials: { method, user: parsed.user, pass: parsed.token, oauth: { mechanism, payload } } };
  }

  private external(b64: string): SaslResult {
    const identity = decodeBase64(b64);
    if (identity === null) return { type: "invalid" };
    return { type: "done", credentials: { method: "external", user: identity, pass: "" } };
  }
}

/** The mechanism name as the client wrote it, if mailproxy knows it (case-insensitive). */
export function saslMechanism(name: string): SaslMechanism | null {
  const upper = name.toUpperCase();
  switch (upper) {
    case "PLAIN":
    case "LOGIN":
    case "CRAM-MD5":
    case "EXTERNAL":
    case "XOAUTH2":
    case "OAUTHBEARER":
      return upper;
  }
  return null;
}

/**
 * The session salt `<R.T@server_name>` (auth-http.md §2.4), used for APOP and CRAM-MD5.
 */
export function makeSalt(serverName: string, now = Date.now()): string {
  const random = Math.floor(Math.random() * 0x7fffffff);
  return `<${random}.${Math.floor(now / 1000)}@${serverName}>`;
}
