/**
 * `syslog:server=ADDR[:PORT][,facility=F][,severity=S][,tag=T][,nohostname]` as a
 * log target of `error_log` and `access_log`, as nginx writes it: one RFC 3164
 * datagram per line, `<PRI>Mmm dd HH:MM:SS HOSTNAME TAG: line`, over UDP (default
 * port 514) or to a UNIX datagram socket (`server=unix:/dev/log`). The tag
 * defaults to "nginx", as nginx's does: existing syslog filters match on it.
 */
import dgram from "node:dgram";
import { lookupFirst } from "../resolve.ts";
import net from "node:net";
import os from "node:os";
import { LOG_LEVELS, type LogLevel } from "../config/model.ts";
import { openUnixDatagram } from "./unix_datagram.ts";
import type { SyslogTarget } from "../config/values/syslog_target.ts";

/** nginx's NGX_SYSLOG_MAX_STR less the header: longer lines are cut, as nginx cuts them. */
const MAX_LINE = 2048;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** `<PRI>Mmm dd HH:MM:SS HOSTNAME TAG: ` in local time, as ngx_syslog_add_header writes it. */
function syslogHeader(target: SyslogTarget, level: LogLevel, now: Date): string {
  // syslog severities run from emerg (0) to debug (7): LOG_LEVELS backwards
  const pri = target.facility * 8 + LOG_LEVELS.length - 1 - LOG_LEVELS.indexOf(level);
  const two = (n: number) => String(n).padStart(2, "0");
  const time = `${MONTHS[now.getMonth()]} ${String(now.getDate()).padStart(2, " ")} ` +
    `${two(now.getHours())}:${two(now.getMinutes())}:${two(now.getSeconds())}`;
  return target.hostname ? `<${pri}>${time} ${os.hostname().toLowerCase()} ${target.tag}: ` : `<${pri}>${time} ${target.tag}: `;
}

/** Sends log lines to one syslog server; lines written while it is still opening wait for it. */
export class SyslogSender {
  private send?: (data: Buffer) => void;
  private closeTransport?: () => void;
  private waiting: Buffer[] | undefined = [];
  private closed = false;

  constructor(readonly target: SyslogTarget, onError: (message: string) => void) {
    this.openTransport().then(
      ({ send, close }) => {
        if (this.closed) return close();
        this.send = send;
        this.closeTransport = close;
        for (const data of this.waiting ?? []) send(data);
        this.waiting = undefined;
      },
      (err) => {
        this.waiting = undefined;
        onError(`syslog server ${describe(target)} cannot be used: ${(err as Error).message}`);
      },
    );
  }

  /**
   * `line` without its newline, with the severity of `level`: an error_log line's
   * own (nginx ignores `severity=` there), `severity=` or info for access_log.
   */
  write(level: LogLevel, line: string, now = new Date()): void {
    const data = Buffer.from(syslogHeader(this.target, level, now) + line.slice(0, MAX_LINE));
    if (this.send) this.send(data);
    else if (this.waiting && this.waiting.length < 1000) this.waiting.push(data);
  }

  close(): void {
    this.closed = true;
    this.closeTransport?.();
  }

  private async openTransport(): Promise<{ send: (data: Buffer) => void; close: () => void }> {
    const server = this.target.server;
    if ("unix" in server) return await openUnixDatagram(server.unix);
    // resolved once, as nginx resolves it when it reads the configuration
    const address = net.isIP(server.host)
      ? { address: server.host, family: net.isIP(server.host) }
      : await lookupFirst(server.host);
    const socket = dgram.createSocket(address.family === 6 ? "udp6" : "udp4");
    socket.on("error", () => {});
    socket.unref();
    return {
      send: (data) => socket.send(data, server.port, address.address),
      close: () => socket.close(),
    };
  }
}

function describe(target: SyslogTarget): string {
  return "unix" in target.server ? `unix:${target.server.unix}` : `${target.server.host}:${target.server.port}`;
}
