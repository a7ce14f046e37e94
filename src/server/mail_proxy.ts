/**
 * The running proxy in one process: listeners, the sessions they accept, reload
 * (listeners kept or swapped, sessions untouched) and shutdown.
 */
import type net from "node:net";
import type { NetListener, NetSocket } from "../net/socket.ts";
import { listenerSockets } from "../net/choose.ts";
import type { Config, EffectiveServer } from "../config/model.ts";
import { effectiveServers } from "../config/load.ts";
import type { AuthSource } from "../auth/types.ts";
import { createAuthSource } from "../auth/source.ts";
import { ConnectionCounter, LimitStores } from "../auth/limits.ts";
import type { Logger } from "../log/logger.ts";
import { Session, type SessionDeps } from "./session.ts";
import { applySocketOptions, type Binding, dispatchAll, expandListen, type ListenEntry, openBinding, planBindings } from "./listeners.ts";
import { createSniTlsUpgrader, createTlsUpgrader, type ServerTlsUpgrader, type TlsUpgrader } from "../tls/upgrader.ts";
import { tlsConfigWarnings } from "../tls/context.ts";
import { createClientHostResolver } from "./client_host.ts";
import { addressMatcher, type TrustedPeers, trustedPeers } from "./realip.ts";
import { metrics } from "../metrics/mail_metrics.ts";
import { sessionObserver } from "../metrics/session_observer.ts";
import { poolOperations, STATUS_ALLOW_DEFAULT, startStatusServer, type StatusServer } from "../metrics/status_server.ts";
import { AccessLog } from "../log/access_log.ts";
import { Generation } from "./generation.ts";
import { type PoolPlacement, Pools } from "../upstream/pools.ts";
import { PoolRouter } from "../upstream/pool_router.ts";
import { MemorySettler } from "./settle_memory.ts";
import { fullCollection } from "../runtime.ts";

/** What every connection accepted for one `server {}` needs. */
interface ServerRuntime {
  server: EffectiveServer;
  /** The server's own error_log (in `server {}` or `mail {}`), else the top-level log. */
  logger: Logger;
  /** The configuration it was built from, which its sessions belong to. */
  generation: Generation<Session>;
  auth: AuthSource;
  tls?: ServerTlsUpgrader;
  resolveClientHost?: (ip: string) => Promise<string>;
  trustedPeers?: TrustedPeers;
}

interface OpenBinding {
  binding: Binding<ServerRuntime>;
  socket: NetListener;
}

/** What the sessions of one listen entry share. */
interface PreparedEntry {
  labels: { server: string; protocol: string };
  deps: SessionDeps;
  closed: (session: Session) => void;
}

/** The servers sharing one address (SNI), the default first, and their one upgrader. */
interface SharedAddress {
  runtimes: ServerRuntime[];
  tls?: TlsUpgrader;
}

export class MailProxy {
  private open = new Map<string, OpenBinding>();
  private sessions = new Set<Session>();
  private runtimes: ServerRuntime[] = [];
  /** limit_login counters and limit_conn counts: kept across reloads. */
  private readonly limitStores = new LimitStores();
  private readonly connections = new ConnectionCounter();
  /** `upstream` pools, their health and the users' assignments: kept across reloads (a worker's are its master's). */
  readonly pools: PoolPlacement;
  private maxConnections = Infinity;
  private status?: { address: string; server: StatusServer };
  /** status_allow of the configuration applied last. */
  private statusAllowed = addressMatcher(STATUS_ALLOW_DEFAULT);
  private accessLog?: AccessLog;
  private readonly settler = new MemorySettler(fullCollection);
  /** Set while a graceful stop waits for the last session. */
  private drained?: () => void;

  /** The configuration applied last, then older ones whose sessions are not all done. */
  private generations: Generation<Session>[] = [];
  /** worker_shutdown_timeout of the configuration applied last: bounds its sessions once a reload replaces it. */
  private shutdownTimeoutMs = 0;

  /**
   * `reusePort`: listeners shared with sibling worker processes (SO_REUSEPORT).
   * `serverLogs: false` (`-e FILE`, which overrides every error_log): sessions log to `logger` only.
   * `pools`: where pooled logins are placed, when not by this process (a worker asks its master).
   */
  constructor(
    private readonly logger: Logger,
    private readonly options: { reusePort?: boolean; serverLogs?: boolean; pools?: PoolPlacement } = {},
  ) {
    this.pools = options.pools ?? new Pools(logger, { kick: (login, backends) => this.kick(login, backends) });
  }

  /** A move: the user's sessions on these backends get the protocol's goodbye (relayed) or just end; how many. */
  kick(login: string, backends: readonly string[]): number {
    const kicked = [...this.sessions].filter((s) => s.ctx.login === login && backends.includes(s.ctx.upstream ?? ""));
    for (const s of kicked) s.kick();
    return kicked.length;
  }

  /** Bind every listener of the config; rejects (binding nothing new) if one cannot be bound. */
  async start(config: Config): Promise<void> {
    await this.apply(config);
  }

  /**
   * Apply a new config: listeners with the same address keep their socket and get
   * the new servers; new addresses are bound; removed ones are closed. Sessions in
   * progress keep the config they started with (bounded by its worker_shutdown_timeout).
   */
  async apply(config: Config): Promise<void> {
    const generation = new Generation<Session>();
    let runtimes: ServerRuntime[];
    const upstreams = config.mail?.upstreams ?? [];
    const poolNames = new Set(upstreams.map((u) => u.name));
    try {
      runtimes = await Promise.all(effectiveServers(config).map((s) => this.buildRuntime(s, generation, poolNames)));
    } catch (err) {
      generation.end();
      throw err;
    }
    const entries: ListenEntry<ServerRuntime>[] = [];
    for (const rt of runtimes) {
      for (const listen of rt.server.listen) entries.push(...(await expandListen(listen, rt)));
    }
    const plan = planBindings(entries);
    const opened: OpenBinding[] = [];
    try {
      for (const binding of plan) {
        const existing = this.open.get(binding.key);
        if (existing) continue;
        const holder: OpenBinding = { binding, socket: undefined as unknown as NetListener };
        const sockets = listenerSockets(
          binding.listen.address,
          binding.entries.map((e) => ({ server: e.target.server, listen: e.listen, host: e.host })),
          (message) => this.logger.info(message),
        );
        holder.socket = await openBinding(binding, (socket) => this.accept(holder, socket), sockets, this.options);
        opened.push(holder);
      }
    } catch (err) {
      for (const o of opened) o.socket.close();
      for (const rt of runtimes) rt.auth.close();
      generation.end();
      throw err;
    }
    const keep = new Set(plan.map((b) => b.key));
    for (const [key, o] of this.open) {
      if (!keep.has(key)) {
        o.socket.close();
        this.open.delete(key);
      }
    }
    for (const binding of plan) {
      const existing = this.open.get(binding.key);
      if (existing) existing.binding = binding;
    }
    for (const o of opened) this.open.set(o.binding.key, o);
    for (const old of this.runtimes) old.auth.close();
    this.runtimes = runtimes;
    this.pools.apply(upstreams);
    this.generations[0]?.retire(this.shutdownTimeoutMs);
    this.generations = [generation, ...this.generations.filter((g) => !g.ended)];
    this.shutdownTimeoutMs = config.worker_shutdown_timeout ?? 0;
    this.maxConnections = config.worker_connections > 0 ? config.worker_connections : Infinity;
    await this.applyObservability(config);
    for (const rt of runtimes) this.warnUnsupported(rt.server);
  }

  /** status_listen and access_log: started, moved, reopened or stopped with the config. */
  private async applyObservability(config: Config): Promise<void> {
    this.statusAllowed = addressMatcher(config.status_allow ?? STATUS_ALLOW_DEFAULT);
    if (this.status && this.status.address !== config.status_listen) {
      await this.status.server.close();
      this.status = undefined;
    }
    if (config.status_listen && !this.status) {
      try {
        const pools = this.pools instanceof Pools ? poolOperations(this.pools, (peer) => this.statusAllowed(peer), this.logger) : undefined;
        this.status = { address: config.status_listen, server: await startStatusServer(config.status_listen, undefined, pools) };
      } catch (err) {
        this.logger.error(`status_listen ${config.status_listen} failed: ${(err as Error).message}`);
      }
    }
    if (config.access_log) {
      if (this.accessLog) this.accessLog.reopen(config.access_log);
      else this.accessLog = new AccessLog(config.access_log, (message) => this.logger.log("alert", message));
    } else {
      this.accessLog?.close();
      this.accessLog = undefined;
    }
  }

  /** USR1: reopen the access log and the servers' own error logs (the top-level log belongs to the caller). */
  reopenLogs(): void {
    this.accessLog?.reopen();
    for (const g of this.generations) g.reopenLogs();
  }

  /** The status listener's address, for tests that use port 0. */
  statusAddress(): net.AddressInfo | undefined {
    return this.status?.server.address();
  }

  /** Addresses actually bound, e.g. for tests that listen on port 0. */
  addresses(): Array<{ key: string; address: ReturnType<NetListener["address"]> }> {
    return [...this.open.values()].map((o) => ({ key: o.binding.key, address: o.socket.address() }));
  }

  get activeSessions(): number {
    return this.sessions.size;
  }

  /**
   * Stop accepting. Graceful: say goodbye to the sessions that have not logged in,
   * let the relays finish within `timeoutMs` (0: unbounded), then drop the rest.
   * Not graceful: drop every session now. Called while a stop or retirement is
   * under way, it only does that to the sessions left, within the first call's bound.
   */
  stop(graceful: boolean, timeoutMs = 0): Promise<void> {
    for (const s of this.sessions) {
      if (graceful) s.shutdown();
      else s.abort();
    }
    return this.stopping ??= this.windDown(graceful, timeoutMs);
  }

  /**
   * A reload's old generation: stop accepting and let every session finish, those
   * still logging in included, as the single process keeps them across a reload;
   * bounded by `timeoutMs` (worker_shutdown_timeout; 0: unbounded).
   */
  retire(timeoutMs = 0): Promise<void> {
    return this.stopping ??= this.windDown(true, timeoutMs);
  }

  private stopping?: Promise<void>;
  private async windDown(wait: boolean, timeoutMs: number): Promise<void> {
    for (const o of this.open.values()) o.socket.close();
    this.open.clear();
    this.settler.stop();
    if (wait && this.sessions.size > 0) {
      const all = new Promise<void>((r) => (this.drained = r));
      if (timeoutMs > 0) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([all, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
        clearTimeout(timer);
      } else await all;
    }
    for (const s of this.sessions) s.abort();
    for (const g of this.generations) g.end();
    for (const rt of this.runtimes) rt.auth.close();
    this.limitStores.close();
    this.pools.close();
    await this.status?.server.close();
    this.status = undefined;
    this.accessLog?.close();
    this.accessLog = undefined;
  }

  private async buildRuntime(server: EffectiveServer, generation: Generation<Session>, pools: ReadonlySet<string>): Promise<ServerRuntime> {
    const logger = this.options.serverLogs === false ? this.logger : generation.logger(server.error_log, this.logger);
    const auth = this.limitStores.guard(
      server,
      createAuthSource(server, logger, {
        onCacheLookup: (hit) => (hit ? metrics.authCacheHits : metrics.authCacheMisses).inc({ server: server.listen[0]?.address ?? "", protocol: server.protocol }),
      }, pools),
      logger,
    );
    return {
      server,
      logger,
      generation,
      auth: pools.size > 0 ? new PoolRouter(auth, this.pools) : auth,
      tls: await createTlsUpgrader(server),
      resolveClientHost: server.protocol === "smtp" ? await createClientHostResolver(server) : undefined,
      trustedPeers: server.set_real_ip_from.length ? await trustedPeers(server.set_real_ip_from) : undefined,
    };
  }

  /** Upgraders of shared addresses, per set of runtimes; rebuilt with the runtimes on reload. */
  private shared = new WeakMap<ServerRuntime, Map<string, SharedAddress>>();

  /** The servers of a shared address and their SNI upgrader, made once per config. */
  private sharedAddress(group: readonly ListenEntry<ServerRuntime>[]): SharedAddress {
    const runtimes = group.map((e) => e.target);
    const key = runtimes.map((rt) => this.runtimes.indexOf(rt)).join(",");
    let byKey = this.shared.get(runtimes[0]!);
    if (!byKey) this.shared.set(runtimes[0]!, byKey = new Map());
    let found = byKey.get(key);
    if (!found) {
      const upgraders = runtimes.map((rt) => rt.tls).filter((u): u is ServerTlsUpgrader => u !== undefined);
      found = { runtimes, tls: upgraders.length > 1 ? createSniTlsUpgrader(upgraders) : runtimes[0]!.tls };
      byKey.set(key, found);
    }
    return found;
  }

  private accept(holder: OpenBinding, socket: NetSocket): void {
    const group = dispatchAll(holder.binding, socket);
    const { labels, deps, closed } = this.entryDeps(group);
    if (this.sessions.size >= this.maxConnections) {
      this.logger.log("alert", `${this.maxConnections} worker_connections are not enough`);
      metrics.connectionsRefused.inc(labels);
      socket.destroy();
      return;
    }
    metrics.connectionsAccepted.inc(labels);
    metrics.connectionsActive.inc(labels);
    applySocketOptions(socket, group[0]!.listen);
    const session = new Session(socket, deps, closed);
    this.sessions.add(session);
    group[0]!.target.generation.add(session);
    session.start();
    this.settler.sessionStarted();
  }

  /**
   * What every session accepted for one listen entry shares, built at its first
   * connection: one deps object, observer, metric label set and close callback for all
   * of them (fresh ones per connection cost memory for each session's life and a metric key each).
   */
  private readonly preparedEntries = new WeakMap<ListenEntry<ServerRuntime>, PreparedEntry>();
  private entryDeps(group: readonly ListenEntry<ServerRuntime>[]): PreparedEntry {
    const entry = group[0]!;
    let prepared = this.preparedEntries.get(entry);
    if (prepared) return prepared;
    const shared = group.length > 1 ? this.sharedAddress(group) : undefined;
    const labels = { server: entry.listen.address, protocol: entry.target.server.protocol };
    const rt = entry.target;
    const deps: SessionDeps = {
      server: rt.server,
      listen: entry.listen,
      auth: rt.auth,
      logger: rt.logger,
      tls: shared ? shared.tls : rt.tls,
      resolveClientHost: rt.resolveClientHost,
      trustedPeers: rt.trustedPeers,
      ...(shared
        ? {
          forServer: (server) => {
            const picked = shared.runtimes.find((r) => r.server === server);
            return picked && {
              server: picked.server,
              logger: picked.logger,
              auth: picked.auth,
              resolveClientHost: picked.resolveClientHost,
              trustedPeers: picked.trustedPeers,
            };
          },
        }
        : {}),
      observer: sessionObserver(labels, () => this.accessLog, undefined, this.pools),
      connections: this.connections,
    };
    const closed = (session: Session) => {
      this.sessions.delete(session);
      this.pools.sessionClosed(session.ctx);
      rt.generation.remove(session);
      metrics.connectionsActive.dec(labels);
      if (this.sessions.size === 0) this.drained?.();
    };
    prepared = { labels, deps, closed };
    this.preparedEntries.set(entry, prepared);
    return prepared;
  }

  private warnedUnsupported = new Set<string>();
  private warnUnsupported(server: EffectiveServer): void {
    for (const warning of tlsConfigWarnings(server)) {
      if (this.warnedUnsupported.has(warning)) continue;
      this.warnedUnsupported.add(warning);
      this.logger.warn(warning);
    }
    for (const l of server.listen) {
      for (const opt of ["rcvbuf", "sndbuf"] as const) {
        if (l[opt] !== undefined && !this.warnedUnsupported.has(`${l.address}/${opt}`)) {
          this.warnedUnsupported.add(`${l.address}/${opt}`);
          this.logger.warn(`"${opt}=" of "listen ${l.address}" is not supported by the runtime and is ignored`);
        }
      }
      if (l.multipath) this.logger.emerg("multipath is not supported on this platform, ignored");
    }
  }
}
