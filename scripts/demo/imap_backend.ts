/**
 * A tiny in-memory IMAP server for the demo and for tests: enough of RFC 3501
 * for curl's imap://, Python's imaplib and the proxy's login dialogue (LOGIN with
 * literals, CAPABILITY, SELECT, FETCH, UID FETCH, APPEND, IDLE, NOOP, LOGOUT).
 * It is a demo mailbox, not a mail server.
 */
import net from "node:net";
import crypto from "node:crypto";

export interface DemoUser {
  password: string;
  messages: string[];
}

export interface DemoImapServer {
  port: number;
  /** Every line (and literal) the server received, as binary strings, per connection. */
  transcripts: string[][];
  close(): Promise<void>;
}

const GREETING = "* OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE AUTH=PLAIN] demo IMAP ready\r\n";

/** Reads IMAP command lines with their literals: yields [line, literals] per command. */
class CommandReader {
  private buf: Buffer = Buffer.alloc(0);
  private parts: Buffer[] = [];
  private need = 0;

  constructor(private readonly onCommand: (text: string) => void, private readonly onContinue: () => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (this.need > 0) {
        if (this.buf.length < this.need) return;
        this.parts.push(this.buf.subarray(0, this.need));
        this.buf = this.buf.subarray(this.need);
        this.need = 0;
        continue;
      }
      const lf = this.buf.indexOf(10);
      if (lf < 0) return;
      const line = this.buf.subarray(0, lf + 1);
      this.buf = this.buf.subarray(lf + 1);
      this.parts.push(line);
      const m = /\{(\d+)(\+?)\}\r?\n$/.exec(line.toString("latin1"));
      if (m) {
        this.need = Number(m[1]);
        if (!m[2]) this.onContinue();
        if (this.need > 0) continue;
      }
      const text = Buffer.concat(this.parts).toString("latin1");
      this.parts = [];
      this.onCommand(text);
    }
  }
}

/** Split `a b "c d" {3}\r\nxyz` into arguments, resolving quoted strings and literals. */
export function imapArgs(text: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === " " || c === "\r" || c === "\n") {
      i++;
    } else if (c === '"') {
      let v = "";
      i++;
      while (i < text.length && text[i] !== '"') {
        if (text[i] === "\\") i++;
        v += text[i++];
      }
      i++;
      args.push(v);
    } else if (c === "{") {
      const m = /^\{(\d+)\+?\}\r?\n/.exec(text.slice(i));
      if (!m) {
        args.push(text.slice(i).trim());
        break;
      }
      i += m[0].length;
      args.push(text.slice(i, i + Number(m[1])));
      i += Number(m[1]);
    } else {
      let v = "";
      while (i < text.length && !" \r\n".includes(text[i])) v += text[i++];
      args.push(v);
    }
  }
  return args;
}

export function startDemoImap(users: Record<string, DemoUser>, host = "127.0.0.1", port = 0): Promise<DemoImapServer> {
  const transcripts: string[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    const transcript: string[] = [];
    transcripts.push(transcript);
    let user: DemoUser | null = null;
    let selected = false;
    let idleTag: string | null = null;
    const send = (s: string) => socket.write(Buffer.from(s, "latin1"));
    socket.write(GREETING);
    const reader = new CommandReader((text) => {
      transcript.push(text);
      if (idleTag) {
        if (/^DONE\r?\n$/i.test(text)) {
          send(`${idleTag} OK IDLE terminated\r\n`);
          idleTag = null;
        }
        return;
      }
      const [tag, rawCmd, ...args] = imapArgs(text);
      const cmd = (rawCmd ?? "").toUpperCase();
      const uid = cmd === "UID";
      const verb = uid ? (args.shift() ?? "").toUpperCase() : cmd;
      switch (verb) {
        case "CAPABILITY":
          send("* CAPABILITY IMAP4rev1 LITERAL+ IDLE AUTH=PLAIN\r\n" + `${tag} OK CAPABILITY completed\r\n`);
          break;
        case "NOOP":
          send(`${tag} OK NOOP completed\r\n`);
          break;
        case "LOGOUT":
          send(`* BYE demo logging out\r\n${tag} OK LOGOUT completed\r\n`);
          socket.end();
          break;
        case "LOGIN": {
          const u = users[args[0] ?? ""];
          if (u && u.password === args[1]) {
            user = u;
            send(`${tag} OK [CAPABILITY IMAP4rev1 LITERAL+ IDLE] Logged in\r\n`);
          } else send(`${tag} NO [AUTHENTICATIONFAILED] Authentication failed.\r\n`);
          break;
        }
        case "SELECT":
        case "EXAMINE":
          if (!user) {
            send(`${tag} BAD not authenticated\r\n`);
            break;
          }
          selected = true;
          send(
            `* ${user.messages.length} EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] UIDs valid\r\n` +
              `* OK [UIDNEXT ${user.messages.length + 1}] next\r\n* FLAGS (\\Seen)\r\n` +
              `${tag} OK [READ-WRITE] ${verb} completed\r\n`,
          );
          break;
        case "FETCH": {
          if (!user || !selected) {
            send(`${tag} BAD no mailbox selected\r\n`);
            break;
          }
          const n = Number(args[0]);
          const msg = user.messages[n - 1];
          if (msg === undefined) {
            send(`${tag} OK FETCH completed\r\n`);
            break;
          }
          const item = /RFC822/i.test(args.slice(1).join(" ")) ? "RFC822" : "BODY[]";
          const uidPart = uid ? `UID ${n} ` : "";
          send(`* ${n} FETCH (${uidPart}${item} {${msg.length}}\r\n${msg})\r\n${tag} OK FETCH completed\r\n`);
          break;
        }
        case "APPEND": {
          const data = args[args.length - 1] ?? "";
          const digest = crypto.createHash("sha256").update(Buffer.from(data, "latin1")).digest("hex");
          send(`${tag} OK APPEND ${data.length} bytes sha256 ${digest}\r\n`);
          break;
        }
        case "IDLE":
          idleTag = tag;
          send("+ idling\r\n");
          break;
        default:
          send(`${tag ?? "*"} BAD unknown command\r\n`);
      }
    }, () => send("+ OK\r\n"));
    socket.on("data", (chunk: Buffer) => reader.push(chunk));
  });
  return new Promise((resolve) => {
    server.listen(port, host, () => {
      resolve({
        port: (server.address() as net.AddressInfo).port,
        transcripts,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sockets) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}
