#!/usr/bin/env python3
"""What pool selection costs per login (`make bench-pool`; issue 16 asks ≤ 5 % CPU).

The IMAP login storm of run.py at mailproxy twice, interleaved round after round
(plain, pool, pool, plain, ...), each turn on a fresh proxy: `plain` is the bench
config as it is (bench-auth answers `Auth-Server: 127.0.0.1`, `Auth-Port`); `pool`
adds `upstream 127.0.0.1 { server 127.0.0.1:BACKEND; }`, which makes that same answer
a pool's name (what `Auth-Server: NAME` does), so both send the same auth request
and get the same answer and only the placement differs. With workers the placement
is the master's (one request and three reports per login on its pipes): the CPU is
the whole process tree's. Every login is the load generator's one user, `bench`.
Started as root, even one worker is a master and a worker; BENCH_AS_NOBODY=1 starts
the proxies as nobody, where `worker_processes 1` is one process placing by itself.

Environment: BENCH_QUICK=1 (short windows), BENCH_ROUNDS=N (default 6),
BENCH_RUNTIMES=bun,deno (default bun), BENCH_WORKERS=N (default 1),
BENCH_AS_NOBODY=1, BENCH_PORT_BASE=N (default 27100).
"""
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import config, scenarios, setup  # noqa: E402
from lib.services import Proxy, SharedServices  # noqa: E402


def pool_proxy(runtime: str, workers: int, ports: config.Ports, cert, work: str) -> Proxy:
    """The bench proxy whose auth answers name a pool of the one IMAP backend."""
    os.makedirs(os.path.join(work, "pool"), exist_ok=True)
    proxy = Proxy(runtime, workers, ports, cert, os.path.join(work, "pool"))
    with open(proxy.conf) as f:
        text = f.read()
    pool = f"    upstream 127.0.0.1 {{ server 127.0.0.1:{ports.backend_imap}; }}\n"
    with open(proxy.conf, "w") as f:
        f.write(text.replace("mail {\n", "mail {\n" + pool, 1))
    return proxy


def as_nobody(proxy: Proxy, work: str) -> None:
    """Start `proxy` as nobody, with its files (this bench's own temp dir) in reach."""
    for root, dirs, files in os.walk(work):
        os.chmod(root, 0o777)
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    proxy.argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *proxy.argv]


def storm_turn(tools, proxy: Proxy, prm, work: str) -> tuple[float, float]:
    """CPU µs per IMAP login of one fresh proxy: all its processes, and the master's own."""
    if os.environ.get("BENCH_AS_NOBODY") == "1":
        as_nobody(proxy, work)
    proxy.start()
    try:
        r = scenarios.storm(tools, proxy, "imap", proxy.ports.imap, prm)
        return r["cpu_us_per_session"], r["first_process_cpu_us_per_session"]
    finally:
        proxy.stop()


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    prm = scenarios.Params.quick() if quick else scenarios.Params.full()
    rounds = int(os.environ.get("BENCH_ROUNDS", "6"))
    workers = int(os.environ.get("BENCH_WORKERS", "1"))
    ports = config.Ports.from_base(int(os.environ.get("BENCH_PORT_BASE", "27100")))
    tools = setup.build_tools(os.path.join(setup.HERE, ".build"))
    work = tempfile.mkdtemp(prefix="mailproxy-bench-pool-")
    cert = setup.make_cert(work)
    services = SharedServices(tools, ports, work)
    try:
        for runtime in os.environ.get("BENCH_RUNTIMES", "bun").split(","):
            turns = {"plain": [], "pool": []}
            masters = {"plain": [], "pool": []}
            for rnd in range(rounds):
                # A B B A: a machine getting busier or quieter during the run weighs on both alike
                for kind in ("plain", "pool") if rnd % 2 == 0 else ("pool", "plain"):
                    maker = Proxy if kind == "plain" else pool_proxy
                    whole, master = storm_turn(tools, maker(runtime, workers, ports, cert, work), prm, work)
                    turns[kind].append(whole)
                    masters[kind].append(master)
                print(f"round {rnd + 1}/{rounds} {runtime}: plain {turns['plain'][-1]:.1f}, "
                      f"pool {turns['pool'][-1]:.1f} CPU µs/login", file=sys.stderr, flush=True)
            plain, pool = statistics.median(turns["plain"]), statistics.median(turns["pool"])
            as_nobody = os.environ.get("BENCH_AS_NOBODY") == "1"
            print(f"{Proxy.LABELS[runtime]}, {workers} worker(s) {'as nobody' if as_nobody else 'as root'}, "
                  f"{'quick' if quick else 'full'}, {rounds} rounds, "
                  f"medians: plain {plain:.1f}, pool {pool:.1f} CPU µs per IMAP login; "
                  f"pool/plain {pool / plain:.3f} ({(pool / plain - 1) * 100:+.1f} %, target ≤ +5 %)")
            if not as_nobody:
                # a count the machine's load moves far less than the whole: the master is idle without pools
                m_plain, m_pool = statistics.median(masters["plain"]), statistics.median(masters["pool"])
                print(f"  the master's own CPU per login, medians: plain {m_plain:.1f}, pool {m_pool:.1f} µs "
                      f"({(m_pool - m_plain) / plain * 100:+.1f} % of a plain login)")
    finally:
        services.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
