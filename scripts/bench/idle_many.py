#!/usr/bin/env python3
"""Many idle IMAP sessions on one proxy: RSS per session beyond what `make bench`'s
idle scenario (≤ 9,500, one load generator, one backend) can reach. Not a test.

  python3 scripts/bench/idle_many.py SESSIONS WORKERS [RUNTIMES] [ROUNDS]
  python3 scripts/bench/idle_many.py 100000 13 nginx,bun 1

Every process on this machine is held to the hard fd limit (`ulimit -Hn`, 20,000
here); a session holds two fds in the proxy (client and backend), so one proxy
process holds at most ~9,990 sessions and 100,000 need several worker processes.
The helpers are spread the same way: one bench-backend per ~15,000 sessions
(the auth service hands their ports out in turn), one bench-load per ~15,000
sessions, each from its own loopback source address (127.0.0.2, .3, ...) so that
no address runs out of its ~28,000 ephemeral ports. nginx gets `accept_mutex on`
and worker_connections sized to the fd limit (its mail listen has no reuseport);
even so its workers fill unevenly: with 13 workers for 100,000 sessions some
reached worker_connections and 52,387 logins failed; 20 workers held them all.
mailproxy's workers share the port with SO_REUSEPORT (13 were enough).

Prints, per proxy: RSS of every process of the proxy before (after a warm-up)
and with the sessions held, and the growth per session.
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import config, setup  # noqa: E402
from lib.services import Proxy, stop, wait_ports  # noqa: E402

PER_HELPER = 15000  # sessions per bench-load and per bench-backend (each below the 20,000 fd limit)
MiB = 1 << 20


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def start_services(tools, ports: config.Ports, sessions: int, base: int, log) -> list[subprocess.Popen]:
    """bench-backends enough for `sessions`, and one keep-alive auth service handing out their IMAP ports."""
    procs, imap_ports, port = [], [], base
    while len(imap_ports) < -(-sessions // PER_HELPER):
        be = subprocess.Popen([tools["backend"], str(port), str(port + 1), str(port + 2)], stdout=log, stderr=log)
        try:
            wait_ports([port], be)
            procs.append(be)
            imap_ports.append(port)
        except RuntimeError:
            pass  # a port inside the ephemeral range, taken by some connection of the moment: the next three
        port += 3
    au = subprocess.Popen([tools["auth"], str(ports.auth), ",".join(map(str, imap_ports)), str(ports.backend_pop3),
                           str(ports.backend_smtp)], stdout=log, stderr=log)
    procs.append(au)
    wait_ports([ports.auth], au)
    return procs


def hold_many(tools, port: int, sessions: int) -> tuple[list[subprocess.Popen], float]:
    """Log `sessions` IMAP sessions in through several bench-loads; they stay held until stdin closes."""
    loads, left, t0 = [], sessions, time.monotonic()
    for i in range(-(-sessions // PER_HELPER)):
        n = min(PER_HELPER, left)
        left -= n
        env = dict(os.environ, BENCH_LOAD_SOURCE=f"127.0.0.{2 + i}")
        loads.append(subprocess.Popen([tools["load"], "idle", "imap", str(port), str(n), "50"], env=env,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    held, errors = 0, 0
    for p in loads:
        line = p.stdout.readline()
        if not line.startswith("ready="):
            errors += 1
            say(f"  a bench-load said: {p.stderr.read()[:300]}")
            continue
        r = {k: float(v) for k, v in (kv.split("=") for kv in line.split())}
        held += int(r["ready"])
        errors += int(r["errors"])
    if held != sessions or errors:
        release(loads)
        raise RuntimeError(f"{held} of {sessions} sessions held, {errors} failed")
    return loads, time.monotonic() - t0


def release(loads: list[subprocess.Popen]) -> None:
    for p in loads:
        p.stdin.close()
    for p in loads:
        try:
            p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def nginx_many_workers(proxy: Proxy, workers: int) -> None:
    """nginx: balance by accept_mutex, and worker_connections that the fd limit can back."""
    limit = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    with open(proxy.conf) as f:
        conf = f.read()
    conf = conf.replace("events { worker_connections 20000; }",
                        f"events {{ worker_connections {min(20000, limit - 50)}; accept_mutex on; }}")
    with open(proxy.conf, "w") as f:
        f.write(conf)


def one_turn(tools, runtime: str, workers: int, ports, cert, work, sessions: int) -> dict:
    proxy = Proxy(runtime, workers, ports, cert, work)
    if runtime == "nginx":
        nginx_many_workers(proxy, workers)
    proxy.start()
    try:
        warm, _ = hold_many(tools, ports.imap, min(sessions, 50 * workers))  # every worker's login path, once
        release(warm)
        time.sleep(1.0)
        before = proxy.rss()
        loads, secs = hold_many(tools, ports.imap, sessions)
        time.sleep(2.0)
        after = proxy.rss()
        pids = proxy.pids()
        release(loads)
        return {"sessions": sessions, "processes": len(pids), "login_secs": secs,
                "rss_before_mib": before / MiB, "rss_after_mib": after / MiB,
                "kib_per_session": (after - before) / sessions / 1024}
    finally:
        proxy.stop()


def main() -> int:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 100000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 13
    runtimes = (sys.argv[3] if len(sys.argv) > 3 else "nginx,bun").split(",")
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    base = int(os.environ.get("BENCH_PORT_BASE", "27100"))
    ports = config.Ports.from_base(base)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    say(f"fd limit {soft}/{hard} per process; {sessions} sessions, {workers} worker(s), {runtimes}, {rounds} round(s)")
    # its own build dir: a `make bench` running beside it keeps its binaries
    tools = setup.build_tools(os.path.join(setup.HERE, ".build", "idle-many"))
    work = tempfile.mkdtemp(prefix="mailproxy-idle-many-")
    cert = setup.make_cert(work)
    log = open(os.path.join(work, "services.log"), "ab")
    services = start_services(tools, ports, sessions, base + 20, log)
    try:
        for rnd in range(rounds):
            for rt in runtimes:
                try:
                    r = one_turn(tools, rt, workers, ports, cert, work, sessions)
                except RuntimeError as e:
                    print(f"round {rnd + 1} {rt}: failed: {e}", flush=True)
                    continue
                print(f"round {rnd + 1} {rt}: {r['sessions']} sessions in {r['login_secs']:.1f} s on "
                      f"{r['processes']} process(es); RSS {r['rss_before_mib']:.1f} MiB -> {r['rss_after_mib']:.1f} "
                      f"MiB; {r['kib_per_session']:.2f} KiB/session", flush=True)
    finally:
        for p in services:
            stop(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
