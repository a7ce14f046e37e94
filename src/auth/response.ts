/**
 * Reading an auth_http answer (auth-http.md §4) and deciding what it means
 * (§5). Pure: the client feeds bytes and gets values back, never exceptions.
 *
 * The header parser follows nginx's ngx_mail_auth_http_module byte for byte:
 * an optional `HTTP/` status line (its code ignored), header names of letters,
 * digits and `-`, lines without a colon allowed, LF or CRLF, trailing spaces
 * trimmed, and at most 1024 bytes for the whole header block.
 */
import net from "node:net";
import type { Protocol } from "../config/model.ts";
import type { AuthMethod } from "../protocols/types.ts";
import { yieldOf } from "../protocols/mechanisms.ts";
import type { AuthResult, UpstreamTlsMode } from "./types.ts";

/** nginx reads the answer into one 1024-byte buffer; a header block that does not fit fails. */
export const MAX_RESPONSE_HEAD = 1024;

export interface ResponseHead {
  /** The status line without its line ending, or null when the answer had none. */
  statusLine: string | null;
  /** Header lines in order; values trimmed as nginx does, names as sent. */
  headers: Array<[string, string]>;
}

type ResponseHeadError =
  /** A CR in the status line not followed by LF. */
  | "invalid-response"
  /** A malformed header line. */
  | "invalid-header"
  /** The header block does not fit in MAX_RESPONSE_HEAD bytes. */
  | "too-large";

export type HeadParseResult =
  | { type: "more" }
  /** `rest` is whatever followed the empty line (the start of a body). */
  | { type: "done"; head: ResponseHead; rest: string }
  | { type: "error"; error: ResponseHeadError };

const CR = 13;
const LF = 10;
const SPACE = 32;

function isAlnum(code: number): boolean {
  const lower = code | 0x20;
  return (lower >= 0x61 && lower <= 0x7a) || (code >= 0x30 && code <= 0x39);
}

type ParseOutcome =
  | { type: "more" }
  | { type: "done"; head: ResponseHead; end: number }
  | { type: "error"; error: ResponseHeadError };

/** The length of a leading `HTTP/...` status line including its LF, 0 when absent, or a result. */
function statusLineLength(data: string): number | "more" | "invalid" {
  const prefix = "HTTP/";
  for (let i = 0; i < prefix.length; i++) {
    if (i >= data.length) return "more";
    if (data[i] !== prefix[i]) return 0; // not a status line: headers start at byte 0
  }
  for (let i = prefix.length; i < data.length; i++) {
    const code = data.charCodeAt(i);
    if (code === LF) return i + 1;
    if (code === CR) {
      if (i + 1 >= data.length) return "more";
      return data.charCodeAt(i + 1) === LF ? i + 2 : "invalid";
    }
  }
  return "more";
}

function parseHead(data: string): ParseOutcome {
  const status = statusLineLength(data);
  if (status === "more") return { type: "more" };
  if (status === "invalid") return { type: "error", error: "invalid-response" };
  const statusLine = status === 0 ? null : data.slice(0, status).replace(/\r?\n$/, "");
  const headers: Array<[string, string]> = [];
  let p = status;
  for (;;) {
    if (p >= data.length) return { type: "more" };
    const first = data.charCodeAt(p);
    // The empty line ends the block.
    if (first === LF) return { type: "done", head: { statusLine, headers }, end: p + 1 };
    if (first === CR) {
      if (p + 1 >= data.length) return { type: "more" };
      if (data.charCodeAt(p + 1) !== LF) return { type: "error", error: "invalid-header" };
      return { type: "done", head: { statusLine, headers }, end: p + 2 };
    }
    if (!isAlnum(first)) return { type: "error", error: "invalid-header" };
    const line = parseHeaderLine(data, p);
    if (line.type !== "line") return line;
    headers.push([line.name, line.value]);
    p = line.next;
  }
}

type LineOutcome =
  | { type: "line"; name: string; value: string; next: number }
  | { type: "more" }
  | { type: "error"; error: ResponseHeadError };

/** One header line starting at `start` (whose first byte is already known to be valid). */
function parseHeaderLine(data: string, start: number): LineOutcome {
  let p = start + 1;
  let nameEnd = -1;
  // name
  for (; p < data.length; p++) {
    const code = data.charCodeAt(p);
    if (isAlnum(code) || code === 0x2d) continue;
    if (code === 0x3a) {
      nameEnd = p;
      p++;
      break;
    }
    if (code === CR || code === LF) {
      // a line without a colon: a name with an empty value
      return finishLine(data, start, p, p, p, p);
    }
    return { type: "error", error: "invalid-header" };
  }
  if (nameEnd < 0) return { type: "more" };
  // spaces before the value
  while (p < data.length && data.charCodeAt(p) === SPACE) p++;
  const valueStart = p;
  // value, remembering where the trailing spaces begin
  let valueEnd = p;
  for (; p < data.length; p++) {
    const code = data.charCodeAt(p);
    if (code === CR || code === LF) return finishLine(data, start, nameEnd, valueStart, valueEnd, p);
    if (code !== SPACE) valueEnd = p + 1;
  }
  return { type: "more" };
}

/** The line ends at `eol` (a CR or LF); CR must be followed by LF. */
function finishLine(
  data: string,
  start: number,
  nameEnd: number,
  valueStart: number,
  valueEnd: number,
  eol: number,
): LineOutcome {
  let next: number;
  if (data.charCodeAt(eol) === LF) {
    next = eol + 1;
  } else {
    if (eol + 1 >= data.length) return { type: "more" };
    if (data.charCodeAt(eol + 1) !== LF) return { type: "error", error: "invalid-header" };
    next = eol + 2;
  }
  return {
    type: "line",
    name: data.slice(start, nameEnd),
    value: data.slice(valueStart, Math.max(valueStart, valueEnd)),
    next,
  };
}

/**
 * Incremental reader of the header block: feed socket bytes (binary string)
 * as they arrive, in fragments of any size, until it says done or error.
 */
export class ResponseHeadParser {
  private data = "";
  private finished: HeadParseResult | null = null;

  feed(chunk: string): HeadParseResult {
    if (this.finished) return this.finished;
    // Only the first MAX_RESPONSE_HEAD bytes count; keep the rest as body bytes.
    this.data += chunk;
    const window = this.data.slice(0, MAX_RESPONSE_HEAD);
    const outcome = parseHead(window);
    if (outcome.type === "done") {
      this.finished = { type: "done", head: outcome.head, rest: this.data.slice(outcome.end) };
      this.data = "";
      return this.finished;
    }
    if (outcome.type === "error") return this.finish(outcome);
    if (this.data.length >= MAX_RESPONSE_HEAD) return this.finish({ type: "error", error: "too-large" });
    return { type: "more" };
  }

  private finish(result: HeadParseResult): HeadParseResult {
    this.finished = result;
    this.data = "";
    return result;
  }
}

// ---------------------------------------------------------------------------
// Pooling facts (beyond nginx)

export type BodyFraming =
  | { kind: "length"; length: number }
  | { kind: "chunked" }
  /** Delimited only by the connection close: the connection cannot be reused. */
  | { kind: "unknown" };

interface ConnectionReuse {
  /** The server speaks HTTP/1.1 (or later) and did not ask to close. */
  keepAlive: boolean;
  framing: BodyFraming;
}

/**
 * Whether the connection could carry another request once the body is read. Every
 * pooled login asks: one pass over the headers, each name lowered once.
 */
export function connectionReuse(head: ResponseHead): ConnectionReuse {
  const version = head.statusLine?.match(/^HTTP\/(\d+)\.(\d+)(?:[ \t]+(\d{3}))?/);
  const major = version ? Number(version[1]) : 0;
  const minor = version ? Number(version[2]) : 0;
  const status = version?.[3] ? Number(version[3]) : 200;
  let connection: string | undefined;
  let lengths: string[] | undefined;
  let encodings: string[] | undefined;
  for (const [n, v] of head.headers) {
    const name = n.toLowerCase();
    if (name === "connection") connection = v;
    else if (name === "content-length") (lengths ??= []).push(v);
    else if (name === "transfer-encoding") (encodings ??= []).push(v);
  }
  const close = connection !== undefined && connection.toLowerCase().split(",").some((t) => t.trim() === "close");
  const keepAlive = (major > 1 || (major === 1 && minor >= 1)) && !close;
  return { keepAlive, framing: bodyFraming(status, lengths, encodings) };
}

/** `lengths`, `encodings`: the Content-Length and Transfer-Encoding values in order, if any. */
function bodyFraming(status: number, lengths: string[] | undefined, encodings: string[] | undefined): BodyFraming {
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { kind: "length", length: 0 };
  if (encodings) {
    // Both kinds of framing at once is how request smuggling starts: do not reuse.
    if (lengths) return { kind: "unknown" };
    const codings = encodings.join(",").toLowerCase().split(",").map((t) => t.trim()).filter((t) => t);
    return codings.length === 1 && codings[0] === "chunked" ? { kind: "chunked" } : { kind: "unknown" };
  }
  if (!lengths) return { kind: "unknown" };
  if (!lengths.every((v) => /^\d{1,15}$/.test(v) && Number(v) === Number(lengths[0]))) return { kind: "unknown" };
  return { kind: "length", length: Number(lengths[0]) };
}

// ---------------------------------------------------------------------------
// What the answer means (§5)

export type AuthDecision =
  | AuthResult
  /** `Auth-Status: WAIT`: ask again after `seconds` (0 = at once), same attempt number. */
  | { type: "wait"; seconds: number }
  /** Success naming the backend by host name (beyond nginx): resolve `host`, then connect. */
  | {
    type: "resolve";
    host: string;
    port: number;
    user?: string;
    pass?: string;
    proxySmtpAuth?: boolean;
    sslUpstream?: UpstreamTlsMode;
  };

/** What the decision needs to know about the request that was sent. */
export interface DecisionContext {
  protocol: Protocol;
  method: AuthMethod;
  /** The auth server as nginx names it in logs, e.g. `127.0.0.1:9000` or `unix:/run/auth.sock`. */
  peer: string;
  /** Beyond nginx: the server's `proxy_pass`, used when `Auth-Status: OK` names no backend. */
  defaultBackend?: { host: string; port: number };
  /** Beyond nginx: pool names; `Auth-Server: NAME` needs no Auth-Port (the pool picks the backend). */
  upstreams?: ReadonlySet<string>;
}

/** nginx's ngx_atoi: decimal digits only, no sign, no spaces; null otherwise. */
function parseDecimal(text: string): number | null {
  if (!/^\d+$/.test(text)) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : null;
}

const LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?";
const HOST_NAME = new RegExp(`^(?:${LABEL}\\.)*${LABEL}\\.?$`);

/**
 * A DNS host name acceptable as Auth-Server. The last label must not be all
 * digits, so that `10.1` or `1.2.3` are not handed to the resolver (which
 * would read them as shortened IPv4 addresses).
 */
export function isHostName(text: string): boolean {
  if (text.length > 253 || !HOST_NAME.test(text)) return false;
  const labels = text.replace(/\.$/, "").split(".");
  return !/^\d+$/.test(labels[labels.length - 1]);
}

/** IPv4 dotted quad or IPv6 without brackets, as nginx's ngx_parse_addr accepts. */
function isIpLiteral(text: string): boolean {
  // The usual answer is an IPv4 address: the larger IPv6 pattern only for the others.
  return net.isIPv4(text) || (net.isIPv6(text) && !text.includes("%"));
}


/** An answer the proxy cannot act on, in nginx's words; built only on that path. */
function invalidAnswer(ctx: DecisionContext, what: string): AuthDecision {
  return { type: "internal", reason: `auth http server ${ctx.peer} ${what}` };
}

/**
 * Decide what a complete header block means, in nginx's order: error, WAIT,
 * missing server/port, missing password, bad address, bad port, success.
 */
export function decideAuthResponse(head: ResponseHead, ctx: DecisionContext): AuthDecision {
  let errorText: string | null = null;
  let wait = false;
  let sleep = 0;
  let errorCode: string | undefined;
  let server: string | undefined;
  let port: string | undefined;
  let user: string | undefined;
  let pass: string | undefined;
  let statusOk = false;
  let smtpAuth: string | undefined;
  let sslUpstream: string | undefined;

  for (const [rawName, value] of head.headers) {
    switch (rawName.toLowerCase()) {
      case "auth-status":
        if (value === "OK") {
          statusOk = true;
          break; // never cancels an earlier error
        }
        if (value === "WAIT") {
          wait = true;
          break;
        }
        // SMTP builds its reply later and an empty text there means "no error".
        if (ctx.protocol === "smtp" && value === "") {
          errorText = null;
          break;
        }
        errorText = value;
        break;
      case "auth-server":
        server = value;
        break;
      case "auth-port":
        port = value;
        break;
      case "auth-user":
        user = value;
        break;
      case "auth-pass":
        pass = value;
        break;
      case "auth-wait": {
        const n = parseDecimal(value);
        if (n !== null) sleep = n;
        break;
      }
      case "auth-error-code":
        errorCode = value;
        break;
      case "auth-smtp-auth":
        // Beyond nginx: proxy_smtp_auth on or off for this one login.
        smtpAuth = value;
        break;
      case "auth-ssl-upstream":
        // Beyond nginx: TLS to this backend (docs/auth.md).
        sslUpstream = value;
        break;
    }
  }

  if (errorText !== null) {
    const result: AuthResult = { type: "error", text: errorText, wait: sleep };
    if (ctx.protocol === "smtp" && errorCode) result.errorCode = errorCode;
    return result;
  }
  if (wait) return { type: "wait", seconds: sleep };

  if (!server && !port && statusOk && ctx.defaultBackend) {
    server = ctx.defaultBackend.host;
    port = String(ctx.defaultBackend.port);
  }
  const pool = server !== undefined && ctx.upstreams?.has(server) === true;
  if (!server || (!port && !pool)) return invalidAnswer(ctx, "did not send server or port");
  if (ctx.protocol !== "smtp" && pass === undefined && yieldOf(ctx.method) !== "password") {
    return invalidAnswer(ctx, "did not send password");
  }
  const literal = pool || isIpLiteral(server);
  if (!literal && !isHostName(server)) {
    return invalidAnswer(ctx, `sent invalid server address:"${server}"`);
  }
  // A pool's backend has its own port: Auth-Port is ignored (0 here).
  const portNumber = pool ? 0 : parseDecimal(port!);
  if (!pool && (portNumber === null || portNumber < 1 || portNumber > 65535)) {
    return invalidAnswer(ctx, `sent invalid server port:"${port}"`);
  }

  const switchSmtpAuth = smtpAuth?.toLowerCase();
  if (switchSmtpAuth !== undefined && switchSmtpAuth !== "on" && switchSmtpAuth !== "off") {
    return invalidAnswer(ctx, `sent invalid SMTP auth switch:"${smtpAuth}"`);
  }

  const upstreamTls = sslUpstream?.toLowerCase();
  if (upstreamTls !== undefined && upstreamTls !== "on" && upstreamTls !== "starttls" && upstreamTls !== "off") {
    return invalidAnswer(ctx, `sent invalid SSL upstream switch:"${sslUpstream}"`);
  }

  // Fields set one by one: an object spread per login is a copy.
  const decision: Extract<AuthDecision, { type: "ok" | "resolve" }> = literal
    ? { type: "ok", server, port: portNumber! }
    : { type: "resolve", host: server, port: portNumber! };
  if (user !== undefined) decision.user = user;
  if (pass !== undefined) decision.pass = pass;
  if (switchSmtpAuth !== undefined) decision.proxySmtpAuth = switchSmtpAuth === "on";
  if (upstreamTls !== undefined) decision.sslUpstream = upstreamTls as UpstreamTlsMode;
  return decision;
}

/** The nginx log wording for a header-block error. */
export function headErrorReason(error: ResponseHeadError, peer: string): string {
  switch (error) {
    case "invalid-response":
      return `auth http server ${peer} sent invalid response`;
    case "invalid-header":
      return `auth http server ${peer} sent invalid header in response`;
    case "too-large":
      return `auth http server ${peer} sent too big header`;
  }
}
