/**
 * Stored password forms of the user table (docs/auth.md): bcrypt, SHA512-CRYPT
 * (and SHA256-CRYPT), and clear text only when marked `{plain}`. A scheme may
 * carry Dovecot's `{SCHEME}` prefix, so hashes can be copied from a Dovecot
 * passwd-file unchanged.
 */
import crypto from "node:crypto";
import { compare as bcryptCompare } from "bcryptjs";
import { shaCrypt } from "./sha_crypt.ts";

export type StoredPassword =
  | { scheme: "plain"; plain: string }
  | { scheme: "bcrypt"; hash: string }
  | { scheme: "sha-crypt"; hash: string };

const BCRYPT = /^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/;
const SHA_CRYPT = /^\$(?:5\$(?:rounds=\d+\$)?[^$]{0,16}\$[./0-9A-Za-z]{43}|6\$(?:rounds=\d+\$)?[^$]{0,16}\$[./0-9A-Za-z]{86})$/;

/**
 * Parses a stored password; an error text when the form is unknown.
 * @example parseStoredPassword("{plain}secret") // { scheme: "plain", plain: "secret" }
 */
export function parseStoredPassword(text: string): StoredPassword | string {
  const prefixed = /^\{([A-Za-z0-9-]+)\}(.*)$/s.exec(text);
  const scheme = prefixed ? prefixed[1].toUpperCase() : "";
  const value = prefixed ? prefixed[2] : text;
  if (scheme === "PLAIN" || scheme === "CLEARTEXT") return { scheme: "plain", plain: value };
  if ((scheme === "" || scheme === "BLF-CRYPT" || scheme === "BCRYPT") && BCRYPT.test(value)) {
    return { scheme: "bcrypt", hash: value };
  }
  if ((scheme === "" || scheme === "SHA512-CRYPT" || scheme === "SHA256-CRYPT" || scheme === "CRYPT") && SHA_CRYPT.test(value)) {
    return { scheme: "sha-crypt", hash: value };
  }
  if (scheme !== "") return `unsupported password scheme "{${prefixed![1]}}"`;
  return "unknown password form (expected a bcrypt or SHA512-CRYPT hash, or {plain}text)";
}

/** Compare without leaking where the first difference is. */
function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a, "latin1");
  const y = Buffer.from(b, "latin1");
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

/** `password` is a binary string (the bytes the client sent); hashes are over those bytes. */
export async function verifyPassword(stored: StoredPassword, password: string): Promise<boolean> {
  switch (stored.scheme) {
    case "plain":
      return sameText(stored.plain, password);
    case "bcrypt":
      // bcryptjs hashes the UTF-8 encoding of a JS string: hand it the client's bytes decoded as UTF-8.
      return await bcryptCompare(Buffer.from(password, "latin1").toString("utf8"), stored.hash);
    case "sha-crypt":
      return sameText(shaCrypt(Buffer.from(password, "latin1"), stored.hash) ?? "", stored.hash);
  }
}

/** CRAM-MD5 (RFC 2195): HMAC-MD5 keyed with the password over the challenge, lower-case hex. */
export function verifyCramMd5(plain: string, salt: string, digest: string): boolean {
  const expected = crypto.createHmac("md5", Buffer.from(plain, "latin1")).update(Buffer.from(salt, "latin1")).digest("hex");
  return sameText(expected, digest.toLowerCase());
}

/** APOP (RFC 1939): MD5 over the greeting timestamp followed by the password, lower-case hex. */
export function verifyApop(plain: string, salt: string, digest: string): boolean {
  const expected = crypto.createHash("md5").update(Buffer.from(salt + plain, "latin1")).digest("hex");
  return sameText(expected, digest.toLowerCase());
}
