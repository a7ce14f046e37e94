/**
 * Shared pieces of the property-based fuzzing: a fixed seed (so CI failures
 * replay), byte-string generators, mutation of valid inputs, and the ways of
 * cutting one input into fragments (every byte offset, byte by byte, random).
 */
import fc from "fast-check";

/** Every property runs from this seed; a failure prints the seed and path to replay it. */
export const SEED = 20240806;

/** Options for fc.assert: fixed seed, the given number of runs. */
export function runs(numRuns: number): fc.Parameters<unknown> {
  return { seed: SEED, numRuns, endOnFailure: true };
}

/** Bytes as a binary string (latin1: one char = one byte), as the sockets decode them. */
export function binary(maxLength: number): fc.Arbitrary<string> {
  return fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes).toString("latin1"));
}

/** A string made of protocol-looking tokens and random bytes. */
export function tokenSoup(tokens: readonly string[], maxTokens = 40): fc.Arbitrary<string> {
  return fc.array(fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...tokens) }, { weight: 1, arbitrary: binary(6) }), {
    maxLength: maxTokens,
  }).map((parts) => parts.join(""));
}

type Mutation =
  | { kind: "insert-byte"; at: number; byte: number }
  | { kind: "replace-byte"; at: number; byte: number }
  | { kind: "delete"; at: number; length: number }
  | { kind: "duplicate"; at: number; length: number }
  | { kind: "insert-token"; at: number; token: string }
  | { kind: "truncate"; at: number };

function mutation(tokens: readonly string[]): fc.Arbitrary<Mutation> {
  const at = fc.nat();
  const byte = fc.integer({ min: 0, max: 255 });
  const length = fc.integer({ min: 1, max: 12 });
  return fc.oneof(
    fc.record({ kind: fc.constant("insert-byte" as const), at, byte }),
    fc.record({ kind: fc.constant("replace-byte" as const), at, byte }),
    fc.record({ kind: fc.constant("delete" as const), at, length }),
    fc.record({ kind: fc.constant("duplicate" as const), at, length }),
    fc.record({ kind: fc.constant("insert-token" as const), at, token: fc.constantFrom(...tokens) }),
    fc.record({ kind: fc.constant("truncate" as const), at }),
  );
}

function applyMutation(text: string, m: Mutation): string {
  const at = m.at % (text.length + 1);
  switch (m.kind) {
    case "insert-byte":
      return text.slice(0, at) + String.fromCharCode(m.byte) + text.slice(at);
    case "replace-byte":
      return at < text.length ? text.slice(0, at) + String.fromCharCode(m.byte) + text.slice(at + 1) : text;
    case "delete":
      return text.slice(0, at) + text.slice(at + m.length);
    case "duplicate":
      return text.slice(0, at + m.length) + text.slice(at, at + m.length) + text.slice(at + m.length);
    case "insert-token":
      return text.slice(0, at) + m.token + text.slice(at);
    case "truncate":
      return text.slice(0, at);
  }
}

/**
 * A valid input from `corpus` (or several joined, as a pipelining client sends
 * them) with up to `maxMutations` byte-level and token-level mutations.
 */
export function mutated(corpus: readonly string[], tokens: readonly string[], maxMutations = 8): fc.Arbitrary<string> {
  const base = fc.array(fc.constantFrom(...corpus), { minLength: 1, maxLength: 6 }).map((parts) => parts.join(""));
  return fc.tuple(base, fc.array(mutation(tokens), { maxLength: maxMutations }))
    .map(([text, mutations]) => mutations.reduce(applyMutation, text));
}

/** Random inputs, token soups and mutated valid inputs, weighted towards the mutations. */
export function hostileInput(corpus: readonly string[], tokens: readonly string[], maxBytes = 300): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 1, arbitrary: binary(maxBytes) },
    { weight: 2, arbitrary: tokenSoup(tokens) },
    { weight: 5, arbitrary: mutated(corpus, tokens) },
  );
}

/** `[text]` cut in two at every byte offset, then byte by byte. */
export function* everySplit(text: string): Generator<string[]> {
  for (let i = 0; i <= text.length; i++) yield [text.slice(0, i), text.slice(i)];
  yield Array.from(text);
}

/** Cut points in [0, 1) turned into fragments of `text`. */
export function cutAt(text: string, fractions: number[]): string[] {
  const points = [...new Set(fractions.map((f) => Math.floor(f * text.length)))].sort((a, b) => a - b);
  const out: string[] = [];
  let from = 0;
  for (const p of points) {
    out.push(text.slice(from, p));
    from = p;
  }
  out.push(text.slice(from));
  return out;
}

/** Tokens that are special to the mail protocols' parsers. */
export const PROTOCOL_TOKENS = [
  "\r\n", "\n", "\r", " ", "  ", '"', "\\", "{", "}", "+", "*", "=", "\0", "\xff", "\x80",
  "{0}\r\n", "{5}\r\n", "{4+}\r\n", "{1+}\r\n", "{99999999}\r\n", "{4096+}\r\n", "{12",
  "a1 ", "LOGIN ", "AUTHENTICATE ", "PLAIN", "LOGIN", "CRAM-MD5", "EXTERNAL", "XOAUTH2", "OAUTHBEARER",
  "STARTTLS\r\n", "STLS\r\n", "CAPABILITY", "NOOP", "LOGOUT", "QUIT", "AUTH ", "USER ", "PASS ", "APOP ",
  "EHLO ", "HELO ", "MAIL FROM:<a@b>", "RCPT TO:<c@d>", "RSET", "CAPA", "AGpvaG4Ac2VjcmV0", "am9obg==",
] as const;
