/**
 * The two OAuth 2.0 SASL mechanisms (beyond nginx; docs/auth.md "XOAUTH2 and
 * OAUTHBEARER"): parsing the client's decoded payload, and the RFC 7628 error
 * challenge sent before a failure reply. Pure functions over binary strings.
 *
 *   XOAUTH2 (Google):      user=<user> ^A auth=Bearer <token> ^A ^A
 *   OAUTHBEARER (RFC 7628): n,a=<user>, ^A host=... ^A port=... ^A auth=Bearer <token> ^A ^A
 */

export type OAuthMechanism = "XOAUTH2" | "OAUTHBEARER";

/** What the auth service needs from an OAuth payload. */
interface OAuthPayload {
  /** XOAUTH2 `user=`, OAUTHBEARER the gs2 authzid `a=` ("" when absent). */
  user: string;
  /** The bearer token (goes to Auth-Pass). */
  token: string;
}

const SEP = "\x01";

/**
 * @example parseXoauth2("user=me@x\x01auth=Bearer ya29\x01\x01") // { user: "me@x", token: "ya29" }
 */
function parseXoauth2(decoded: string): OAuthPayload | null {
  const fields = keyValues(decoded.split(SEP));
  const user = fields.get("user");
  const token = bearerToken(fields.get("auth"));
  if (user === undefined || user === "" || token === null) return null;
  return { user, token };
}

/**
 * RFC 7628 §3.1: a gs2 header (channel binding is refused: the proxy cannot
 * bind the backend's channel), then key=value pairs separated by ^A.
 * @example parseOauthBearer("n,a=me@x,\x01auth=Bearer ya29\x01\x01") // { user: "me@x", token: "ya29" }
 */
function parseOauthBearer(decoded: string): OAuthPayload | null {
  const parts = decoded.split(SEP);
  const gs2 = /^([ny]),(?:a=([^,]*))?,$/.exec(parts[0] ?? "");
  if (!gs2) return null;
  const user = gs2[2] === undefined ? "" : decodeSaslName(gs2[2]);
  if (user === null) return null;
  const token = bearerToken(keyValues(parts.slice(1)).get("auth"));
  if (token === null) return null;
  return { user, token };
}

export function parseOAuth(mechanism: OAuthMechanism, decoded: string): OAuthPayload | null {
  return mechanism === "XOAUTH2" ? parseXoauth2(decoded) : parseOauthBearer(decoded);
}

/** The JSON of the RFC 7628 §3.2.2 error challenge (Google's XOAUTH2 sends the same shape). */
const OAUTH_ERROR_JSON = '{"status":"invalid_token","schemes":"bearer"}';

/** The error challenge as sent after the protocol's prompt (`+ `, `334 `). */
export const OAUTH_ERROR_CHALLENGE = Buffer.from(OAUTH_ERROR_JSON, "latin1").toString("base64");

/** What the proxy answers to a backend's error challenge: the RFC's dummy response (a single ^A). */
export const OAUTH_DUMMY_RESPONSE = "AQ==";

function keyValues(pairs: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq > 0 && !out.has(pair.slice(0, eq))) out.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return out;
}

/** `Bearer <token>`, the scheme case-insensitive (RFC 6750). */
function bearerToken(auth: string | undefined): string | null {
  const m = /^bearer +(\S.*)$/i.exec(auth ?? "");
  return m ? m[1] : null;
}

/** RFC 5801 saslname: `=2C` is `,`, `=3D` is `=`; any other `=` is malformed. */
function decodeSaslName(text: string): string | null {
  if (/=(?!2C|3D)/i.test(text)) return null;
  return text.replace(/=2C/gi, ",").replace(/=3D/gi, "=");
}
