"""The soak's pass/fail rules, in one place.

Memory and fds are judged on the samples after the warm-up (a runtime grows
its heap and JIT-compiles during the first seconds; that is not a leak):
the median of the last third of those samples against the median of the
first third. Medians, so one GC pause or one burst of in-flight sessions
does not decide the verdict.
"""
from dataclasses import dataclass
from statistics import median

RSS_GROWTH_MAX = 0.10      # last-third median RSS at most 10 % above the first third's
FD_GROWTH_MAX = 0.10       # last-third median fds at most 10 % above the first third's ...
FD_GROWTH_SLACK = 10       # ... or 10 fds, whichever is more (in-flight sessions come and go)
RATE_MIN = 0.95            # logins completed at least 95 % of the rate asked for
AUTH_POOL_MAX = 32         # auth_http_keepalive's default: idle pooled auth connections that may stay open,
                           # per server {} block (each has its own pool, src/auth/source.ts) and per process


@dataclass
class Check:
    what: str
    measured: str
    rule: str
    ok: bool


def thirds(values: list[float]) -> tuple[float, float]:
    """Medians of the first and the last third of `values` (at least one value each)."""
    n = max(len(values) // 3, 1)
    return median(values[:n]), median(values[-n:])


def slope_per_hour(ts: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over ts (seconds), per hour; 0 with fewer than two points."""
    if len(ts) < 2:
        return 0.0
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den * 3600


def judge(samples: list[dict], warmup: float, load: dict, target_rate: float, seconds: float,
          before: dict[str, int], after: dict[str, int], proxy_alive: bool, replaced_pids: int,
          processes: int, servers: int) -> list[Check]:
    MiB = 1 << 20
    measured = [s for s in samples if s["t"] >= warmup] or samples
    rss = [s["rss"] / MiB for s in measured]
    fds = [s["fds"] for s in measured]
    rss_first, rss_last = thirds(rss)
    fd_first, fd_last = thirds(fds)
    fd_limit = max(fd_first * (1 + FD_GROWTH_MAX), fd_first + FD_GROWTH_SLACK)
    logins = load.get("imap", 0) + load.get("pop3", 0) + load.get("smtp", 0)
    achieved = logins / seconds if seconds else 0
    errors = int(load.get("errors", -1))
    skipped = int(load.get("skipped", 0))
    leftover = after["clients"] + after["backends"]
    other_before = before["other sockets"] + before["non-socket fds"] + before["listeners"]
    other_after = after["other sockets"] + after["non-socket fds"] + after["listeners"]
    return [
        Check("client-visible errors", f"{errors}", "0", errors == 0),
        Check("logins held back (max in flight reached)", f"{skipped}", "0", skipped == 0),
        Check("login rate achieved", f"{achieved:,.0f}/s of {target_rate:,.0f}/s",
              f"≥ {RATE_MIN:.0%} of the target", achieved >= RATE_MIN * target_rate),
        Check("RSS, median last third vs first third", f"{rss_first:.1f} → {rss_last:.1f} MiB "
              f"({(rss_last / rss_first - 1) * 100:+.1f} %)", f"≤ +{RSS_GROWTH_MAX:.0%}",
              rss_last <= rss_first * (1 + RSS_GROWTH_MAX)),
        Check("open fds, median last third vs first third", f"{fd_first:.0f} → {fd_last:.0f}",
              f"≤ max(+{FD_GROWTH_MAX:.0%}, +{FD_GROWTH_SLACK})", fd_last <= fd_limit),
        Check("client/backend sockets left after the load", f"{leftover}", "0", leftover == 0),
        Check("auth connections left (keep-alive pools)", f"{after['auth']}",
              f"≤ {AUTH_POOL_MAX} × {servers} servers × {processes} process(es)",
              after["auth"] <= AUTH_POOL_MAX * servers * processes),
        Check("other fds, before vs after", f"{other_before} → {other_after}", "no growth",
              other_after <= other_before),
        Check("proxy processes", "alive" + (f", {replaced_pids} replaced" if replaced_pids else ""),
              "alive, none replaced", proxy_alive and replaced_pids == 0),
    ]
