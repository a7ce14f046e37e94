"""The five scenarios. Each drives bench-load at one running proxy and returns a
dict of numbers (or raises ScenarioFailed). CPU is the proxy tree's own
utime+stime over the measured window, read from /proc."""
import subprocess
import time
from dataclasses import dataclass

from . import proc
from .services import Proxy

GiB = 1 << 30
MiB = 1 << 20


class ScenarioFailed(Exception):
    pass


@dataclass
class Params:
    storm_secs: float
    warm_secs: float
    concurrency: int
    relay_sessions: int
    relay_mib: int
    idle_counts: list[int]
    latency_count: int

    @staticmethod
    def full() -> "Params":
        return Params(4, 1, 50, 4, 64, [1000, 9500], 20000)

    @staticmethod
    def quick() -> "Params":
        # 1 s of warm-up at least: with 0.3 s Bun's JIT was still compiling in the window (217 vs 145 µs/login)
        return Params(1.5, 1, 50, 4, 16, [1000, 2000], 4000)


def load(tools: dict[str, str], args: list, timeout: float) -> dict[str, float]:
    argv = [tools["load"], *map(str, args)]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise ScenarioFailed(f"{' '.join(argv[1:])}: no result after {timeout:.0f}s")
    if r.returncode != 0 or "=" not in r.stdout:
        raise ScenarioFailed(f"{' '.join(argv[1:])}: exit {r.returncode}: {r.stderr.strip()[:300]}")
    out = {k: float(v) for k, v in (kv.split("=") for kv in r.stdout.split())}
    if out.get("errors"):
        first = r.stderr.strip().splitlines()[:1]
        raise ScenarioFailed(f"{' '.join(argv[1:])}: {int(out['errors'])} failed sessions"
                             + (f" ({first[0][:200]})" if first else ""))
    return out


def _settled_cpu(proxy: Proxy) -> float:
    time.sleep(0.1)  # closing connections is part of the work
    return proxy.cpu()


def storm(tools, proxy: Proxy, proto: str, port: int, prm: Params, tls: bool = False) -> dict:
    extra = ["tls"] if tls else []
    load(tools, ["storm", proto, port, prm.concurrency, prm.warm_secs, *extra], prm.warm_secs + 30)
    # the first process started (with workers, the master) on its own as well
    first = [proxy.p.pid] if proxy.p else []
    c0, f0 = proxy.cpu(), proc.cpu_seconds(first)
    r = load(tools, ["storm", proto, port, prm.concurrency, prm.storm_secs, *extra], prm.storm_secs + 30)
    cpu = _settled_cpu(proxy) - c0
    if not r["sessions"]:
        raise ScenarioFailed(f"{proto} storm: no session completed")
    return {
        "sessions_per_s": r["sessions"] / r["secs"],
        "cpu_us_per_session": cpu / r["sessions"] * 1e6,
        "first_process_cpu_us_per_session": (proc.cpu_seconds(first) - f0) / r["sessions"] * 1e6,
        "loadgen_busy": r["lg_cpu"] / r["secs"],
    }


def relay(tools, proxy: Proxy, proto: str, port: int, prm: Params, tls: bool = False) -> dict:
    extra = ["tls"] if tls else []
    load(tools, ["relay", proto, port, 1, 4, *extra], 15)  # warm-up
    c0 = proxy.cpu()
    r = load(tools, ["relay", proto, port, prm.relay_sessions, prm.relay_mib, *extra], 20 + prm.relay_mib)
    cpu = _settled_cpu(proxy) - c0
    return {
        "mib_per_s": r["bytes"] / MiB / r["secs"],
        "cpu_s_per_gib": cpu / (r["bytes"] / GiB),
        "loadgen_busy": r["lg_cpu"] / r["secs"],
    }


def latency(tools, proxy: Proxy, prm: Params) -> dict:
    """Through the proxy and direct, alternating (D V D V) so that a change in the
    machine's state between the two does not land on one side only."""
    half = max(prm.latency_count // 2, 1000)
    via, direct = [], []
    for _ in range(2):
        direct.append(load(tools, ["latency", "imap", proxy.ports.backend_imap, half, "direct"], 120))
        via.append(load(tools, ["latency", "imap", proxy.ports.imap, half], 120))

    def mid(runs, key):
        return sum(r[key] for r in runs) / len(runs)

    return {
        "p50_us": mid(via, "p50_us"),
        "p99_us": mid(via, "p99_us"),
        "direct_p50_us": mid(direct, "p50_us"),
        "direct_p99_us": mid(direct, "p99_us"),
        "added_p50_us": mid(via, "p50_us") - mid(direct, "p50_us"),
        "added_p99_us": mid(via, "p99_us") - mid(direct, "p99_us"),
    }


def idle(tools, proxy: Proxy, count: int, prm: Params, further: bool = False) -> dict:
    """Needs a freshly started proxy: memory a runtime has taken is rarely given back.

    `rss_kib_per_session`: what `count` idle sessions added over the proxy after 50 logins,
    one-time growth included (a runtime's JIT and heap growing with the first burst of logins).
    `further`: also what `count` more sessions add on top of those, each further session's cost."""
    port = proxy.ports.imap
    # warm-up: the code paths of a login (JIT, buffers) are paid once, not per session
    hold(tools, port, 50, prm.concurrency, lambda: None)
    time.sleep(0.5)
    before = proxy.rss()
    after = {}

    def measure_more():
        time.sleep(1.0)
        after["more"] = proxy.rss()

    def measure():
        time.sleep(1.0)
        after["rss"] = proxy.rss()
        if further:
            hold(tools, port, count, prm.concurrency, measure_more)

    secs = hold(tools, port, count, prm.concurrency, measure)
    return {
        "rss_kib_per_session": (after["rss"] - before) / count / 1024,
        "rss_mib_total": after["rss"] / MiB,
        "login_secs": secs,
        **({"rss_kib_per_further_session": (after["more"] - after["rss"]) / count / 1024} if further else {}),
    }


def hold(tools, port: int, count: int, concurrency: int, while_held) -> float:
    """Log `count` IMAP sessions in, call while_held() while they sit idle, then close them."""
    p = subprocess.Popen([tools["load"], "idle", "imap", str(port), str(count), str(concurrency)],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()
        if not line.startswith("ready="):
            raise ScenarioFailed(f"idle {count}: {p.stderr.read()[:300]}")
        r = {k: float(v) for k, v in (kv.split("=") for kv in line.split())}
        if r["ready"] != count or r["errors"]:
            raise ScenarioFailed(f"idle {count}: {int(r['ready'])} held, {int(r['errors'])} failed")
        while_held()
        return r["secs"]
    finally:
        p.stdin.close()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
