/**
 * Clients that pipeline cheap commands as fast as they can and never read the
 * replies (issue 13, item 3), against mailproxy as a child process so its
 * resident memory is its own: the proxy stops reading from a client whose
 * replies wait to be written, so its memory stays flat and a new client is
 * greeted at once. Before the fix, nine such clients took it from ~50 MB to
 * over a gigabyte and starved new connections for seconds.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import net from "node:net";
import { type AuthServer, startAuthServer } from "../support/auth_server.ts";
import { type ChildProxy, startChildProxy } from "../support/child_proxy.ts";
import { WireClient } from "../support/wire.ts";
import { freePort } from "../support/ports.ts";

const MiB = 1024 * 1024;
/** Each flooding client stops after this much (it is never the limit with the fix: writes stall first). */
const FLOOD_BYTES = 4 * MiB;
const FLOOD_MS = 3000;

const floods = [
  { protocol: "imap", command: "a CAPABILITY\r\n", greeting: "* OK IMAP4 ready" },
  { protocol: "pop3", command: "CAPA\r\n", greeting: "+OK POP3 ready" },
  { protocol: "smtp", command: "EHLO x\r\n", greeting: "220 mx.example.com ESMTP ready" },
] as const;

/** A /proc/PID/status field in MiB (VmRSS: resident now, VmHWM: the peak). */
function memoryMiB(pid: number, field: "VmRSS" | "VmHWM"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(fs.readFileSync(`/proc/${pid}/status`, "latin1"));
  return Number(m![1]) / 1024;
}

/** Write `command` over and over without reading until `FLOOD_BYTES` or the deadline; resolves with the bytes written. */
function flood(port: number, command: string, until: number): { socket: net.Socket; done: Promise<number> } {
  const socket = net.connect(port, "127.0.0.1");
  socket.on("error", () => {});
  socket.pause();
  const block = Buffer.from(command.repeat(Math.ceil(65536 / command.length)), "latin1");
  const done = new Promise<number>((resolve) => {
    let written = 0;
    const finish = () => {
      clearTimeout(timer);
      resolve(written);
    };
    const timer = setTimeout(finish, until - Date.now());
    const pump = () => {
      while (written < FLOOD_BYTES && !socket.destroyed) {
        written += block.length;
        if (!socket.write(block)) return void socket.once("drain", pump);
      }
      finish();
    };
    socket.once("connect", pump);
  });
  return { socket, done };
}

describe("clients pipelining cheap commands without reading", () => {
  let auth: AuthServer;
  let proxy: ChildProxy;
  const ports = { imap: 0, pop3: 0, smtp: 0 };

  before(async () => {
    auth = await startAuthServer(() => ({ headers: { "Auth-Status": "Invalid login" } }));
    for (const key of Object.keys(ports) as Array<keyof typeof ports>) ports[key] = await freePort();
    proxy = await startChildProxy(
      `daemon off;
      error_log %LOG% info;
      mail {
        server_name mx.example.com;
        auth_http ${auth.url};
        server { listen 127.0.0.1:${ports.imap}; protocol imap; }
        server { listen 127.0.0.1:${ports.pop3}; protocol pop3; }
        server { listen 127.0.0.1:${ports.smtp}; protocol smtp; }
      }`,
      ports.imap,
    );
  });

  after(async () => {
    await proxy.cleanup();
    await auth.close();
  });

  test("nine flooding clients leave the proxy's memory under 100 MB above its baseline, and a tenth client is greeted within 1 s", async () => {
    // Warm up every protocol's code path before the baseline.
    for (const { protocol, command, greeting } of floods) {
      const c = await WireClient.connect(ports[protocol]);
      assert.equal(await c.line(), greeting);
      c.send(command);
      await c.line();
      c.close();
    }
    const pid = proxy.child.pid!;
    const baseline = memoryMiB(pid, "VmRSS");

    const until = Date.now() + FLOOD_MS;
    const flooders = floods.flatMap(({ protocol, command }) => [0, 1, 2].map(() => flood(ports[protocol], command, until)));
    await new Promise((r) => setTimeout(r, FLOOD_MS / 2));

    // `c.line(1000)`: the greeting must come within a second while the flood goes on.
    const tenth = await WireClient.connect(ports.imap);
    assert.equal(await tenth.line(1000), "* OK IMAP4 ready");
    tenth.close();

    const written = await Promise.all(flooders.map((f) => f.done));
    const peak = memoryMiB(pid, "VmHWM");
    for (const f of flooders) f.socket.destroy();
    assert.ok(written.every((n) => n > 0), `bytes written: ${written}`);
    assert.ok(peak - baseline < 100, `peak RSS ${peak.toFixed(0)} MiB against a baseline of ${baseline.toFixed(0)} MiB`);
    assert.equal(proxy.child.exitCode, null, "the proxy is still running");
  });
});
