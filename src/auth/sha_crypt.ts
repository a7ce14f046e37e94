/**
 * SHA-crypt (`$5$` SHA256-CRYPT and `$6$` SHA512-CRYPT), the published algorithm
 * of Ulrich Drepper ("Unix crypt using SHA-256 and SHA-512", 2008) that glibc's
 * crypt(3), `openssl passwd -5/-6`, `mkpasswd` and Dovecot use. Built on
 * node:crypto so it runs unchanged on Bun and Deno.
 */
import crypto from "node:crypto";

const ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ROUNDS_DEFAULT = 5000;
const ROUNDS_MIN = 1000;
const ROUNDS_MAX = 999_999_999;

type Variant = { id: "5" | "6"; algorithm: "sha256" | "sha512"; size: number };
const VARIANTS: Record<string, Variant> = {
  "5": { id: "5", algorithm: "sha256", size: 32 },
  "6": { id: "6", algorithm: "sha512", size: 64 },
};

/** The byte triples of the final encoding, in the order the specification lists them. */
function encodingOrder(size: number): number[][] {
  const groups: number[][] = [];
  if (size === 64) {
    for (let i = 0; i < 21; i++) {
      const t = [i, i + 21, i + 42];
      groups.push(i % 3 === 0 ? t : i % 3 === 1 ? [t[1], t[2], t[0]] : [t[2], t[0], t[1]]);
    }
    groups.push([63]);
  } else {
    for (let i = 0; i < 10; i++) {
      const t = [i, i + 10, i + 20];
      groups.push(i % 3 === 0 ? t : i % 3 === 1 ? [t[2], t[0], t[1]] : [t[1], t[2], t[0]]);
    }
    groups.push([31, 30]);
  }
  return groups;
}

function encode(digest: Buffer): string {
  let out = "";
  for (const group of encodingOrder(digest.length)) {
    let w: number;
    let chars: number;
    if (group.length === 3) {
      w = (digest[group[0]] << 16) | (digest[group[1]] << 8) | digest[group[2]];
      chars = 4;
    } else if (group.length === 2) {
      w = (digest[group[0]] << 8) | digest[group[1]];
      chars = 3;
    } else {
      w = digest[group[0]];
      chars = 2;
    }
    for (let i = 0; i < chars; i++) {
      out += ITOA64[w & 0x3f];
      w >>= 6;
    }
  }
  return out;
}

/** `length` bytes of `block` repeated. */
function repeatTo(block: Buffer, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i += block.length) block.copy(out, i, 0, Math.min(block.length, length - i));
  return out;
}

/**
 * Hash `password` with the settings of `setting` (`$6$salt`, `$6$rounds=N$salt`,
 * or a whole stored hash). Returns null when `setting` is not SHA-crypt.
 * @example shaCrypt("secret", "$6$saltsalt$") // "$6$saltsalt$..."
 */
export function shaCrypt(password: string | Buffer, setting: string): string | null {
  const m = /^\$([56])\$(?:rounds=(\d+)\$)?([^$]*)/.exec(setting);
  if (!m) return null;
  const variant = VARIANTS[m[1]];
  const customRounds = m[2] !== undefined;
  const rounds = customRounds ? Math.min(Math.max(Number(m[2]), ROUNDS_MIN), ROUNDS_MAX) : ROUNDS_DEFAULT;
  const salt = Buffer.from(m[3].slice(0, 16), "latin1");
  const key = typeof password === "string" ? Buffer.from(password, "utf8") : password;
  const hash = (...parts: Buffer[]) => {
    const h = crypto.createHash(variant.algorithm);
    for (const p of parts) h.update(p);
    return h.digest();
  };

  const b = hash(key, salt, key);
  const a = crypto.createHash(variant.algorithm);
  a.update(key);
  a.update(salt);
  a.update(repeatTo(b, key.length));
  for (let n = key.length; n > 0; n >>= 1) a.update(n & 1 ? b : key);
  let c = a.digest();

  const dp = hash(...Array<Buffer>(key.length).fill(key));
  const p = repeatTo(dp, key.length);
  const ds = hash(...Array<Buffer>(16 + c[0]).fill(salt));
  const s = repeatTo(ds, salt.length);

  for (let i = 0; i < rounds; i++) {
    const h = crypto.createHash(variant.algorithm);
    h.update(i & 1 ? p : c);
    if (i % 3 !== 0) h.update(s);
    if (i % 7 !== 0) h.update(p);
    h.update(i & 1 ? c : p);
    c = h.digest();
  }
  const roundsPart = customRounds ? `rounds=${rounds}$` : "";
  return `$${variant.id}$${roundsPart}${salt.toString("latin1")}$${encode(c)}`;
}
