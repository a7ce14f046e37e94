/**
 * Three Dovecots on loopback ports sharing one mail directory (a cluster on shared
 * storage, where two backends writing one user's indexes would corrupt them), for the
 * pool acceptance tests. Each adds its own capability (XBACKEND-n), so a client's LOGIN
 * reply tells where it landed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type DovecotBackend, startDovecot } from "./backends.ts";
import { WireClient } from "./wire.ts";

export interface DovecotCluster {
  dovecots: DovecotBackend[];
  /** `127.0.0.1:PORT` of Dovecot n, as a pool's `server` line names it. */
  address(n: number): string;
  /** `server ...;` lines for all three, each followed by `params`. */
  servers(params?: string): string;
  stop(): Promise<void>;
}

/** Three Dovecots knowing `users` (password "pw") on one fresh mail directory. */
export async function startDovecotCluster(users: string[]): Promise<DovecotCluster> {
  const mailRoot = mkdtempSync(join(tmpdir(), "mailproxy-shared-mail-"));
  const accounts = users.map((user) => ({ user, password: "pw" }));
  const dovecots: DovecotBackend[] = [];
  for (let n = 0; n < 3; n++) {
    dovecots.push(await startDovecot({ users: accounts, mailRoot, extraConf: `imap_capability = +XBACKEND-${n}\n` }));
  }
  const address = (n: number) => `127.0.0.1:${dovecots[n]!.imapPort}`;
  return {
    dovecots,
    address,
    servers: (params = "") => dovecots.map((_, n) => `server ${address(n)}${params ? ` ${params}` : ""};`).join("\n"),
    stop: async () => {
      for (const d of dovecots) await d.stop().catch(() => {});
      rmSync(mailRoot, { recursive: true, force: true });
    },
  };
}

export interface Login {
  client: WireClient;
  reply: string;
  /** The Dovecot (0, 1, 2) whose capability the reply lists; undefined when refused. */
  backend?: number;
}

/** `a1 LOGIN user pw` through the proxy on `port`; the session stays open. */
export async function login(port: number, user: string): Promise<Login> {
  const client = await WireClient.connect(port);
  await client.line();
  client.send(`a1 LOGIN ${user} pw\r\n`);
  const reply = await client.line();
  const n = /^a1 OK \[CAPABILITY IMAP4rev1 .* XBACKEND-(\d) .*\] Logged in$/.exec(reply)?.[1];
  return { client, reply, backend: n === undefined ? undefined : Number(n) };
}

export interface ServerStatus {
  server: string;
  state: string;
  sessions: number;
  users: number;
}

/** The first pool's backends as GET /upstreams on `statusPort` shows them. */
export async function upstreams(statusPort: number): Promise<ServerStatus[]> {
  const res = await fetch(`http://127.0.0.1:${statusPort}/upstreams`);
  return ((await res.json()) as Array<{ servers: ServerStatus[] }>)[0]!.servers;
}
