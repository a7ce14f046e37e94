#!/usr/bin/env python3
"""One Markdown table per target of issue #15, from a run's JSON (default
scripts/bench/.results/latest.json): rows per scenario, auth mode and worker count;
nginx, mailproxy and its ratio, an "after" column for the native socket adapter,
and the floors' ratios beside them. A run with `ref` (BENCH_REF_BINARY, the build
before) takes `ref` as "before" and `bun` as "after"; without it "after" is pending.

  python3 scripts/bench/report_targets.py [latest.json]
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import report  # noqa: E402
from lib.config import login_key  # noqa: E402
from lib.services import Proxy  # noqa: E402

PENDING = "pending"


def ratio(mine, theirs) -> str:
    if isinstance(mine, str) or isinstance(theirs, str) or not theirs:
        return "n/a"
    return f"{mine / theirs:.2f}×"


def target_table(runs: dict, rows: list[report.Row], runtimes: list[str], unit: str) -> str:
    """One line per row and worker count."""
    floors = [f for f in Proxy.FLOORS if f in runtimes]
    before = "ref" if "ref" in runtimes else "bun"
    head = ["scenario", "workers", f"nginx {unit}", f"mailproxy before {unit}", "before/nginx", "target",
            *([f"after {unit}"] if before == "ref" else []), "after/nginx", *(f"{Proxy.LABELS[f]} /nginx" for f in floors)]
    if "deno" in runtimes:
        head.insert(5, "Deno /nginx")
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        for workers, results in runs.items():
            base = report.value(results, "nginx", row)
            mine = report.value(results, before, row)
            if base == "n/a" and mine == "n/a":
                continue
            cells = [row.scenario, workers, report.fmt(base), report.fmt(mine), report.verdict(row, mine, base)]
            if "deno" in runtimes:
                cells.append(ratio(report.value(results, "deno", row), base))
            cells.append(report.target_text(row))
            if before == "ref":
                after = report.value(results, "bun", row)
                cells += [report.fmt(after), report.verdict(row, after, base)]
            else:
                cells.append(PENDING)
            cells += [ratio(report.value(results, f, row), base) for f in floors]
            out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> int:
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), ".results", "latest.json")
    with open(path) as f:
        run = json.load(f)
    runs = run["results"]
    runtimes = sorted({rt for per_rt in runs.values() for rt, v in per_rt.items() if v is not None})
    auths = run.get("auth", ["keepalive"])
    idle = run["params"]["idle_counts"]
    Row = report.Row
    logins = [Row(f"{p.upper()}, {report.AUTH_LABELS[a]}", login_key(a, f"storm/{p}"), "cpu_us_per_session", "",
                  ("le", report.LOGIN_TARGET[a]), a) for a in auths for p in ("imap", "pop3", "smtp")]
    sections = [
        ("CPU per login (µs of proxy CPU per session, 50-client storms)", logins, "µs"),
        ("CPU per GiB relayed", [Row(f"relay {p.upper()}", f"relay/{p}", "cpu_s_per_gib", "", ("le", 0.6))
                                 for p in ("imap", "pop3", "smtp")]
         + [Row("TLS relay IMAP", "tls-relay", "cpu_s_per_gib", "", ("le", 0.6))], "CPU-s/GiB"),
        ("Relay throughput", [Row(f"relay {p.upper()}", f"relay/{p}", "mib_per_s", "", ("ge", 3.0))
                              for p in ("imap", "pop3", "smtp")]
         + [Row("TLS relay IMAP", "tls-relay", "mib_per_s", "", ("ge", 3.0))], "MiB/s"),
        ("RSS per idle session", [Row(f"{n:,} idle IMAP sessions", f"idle/{i}", "rss_kib_per_session", "",
                                      ("le", 1.0 if i == 0 else 0.5)) for i, n in enumerate(idle)], "KiB"),
        ("TLS login CPU", [Row(f"TLS IMAP, {report.AUTH_LABELS[a]}", login_key(a, "tls-storm"), "cpu_us_per_session",
                               "", ("le", 1.2), a) for a in auths], "µs"),
        ("NOOP latency added by the proxy (p50)",
         [Row("IMAP NOOP", "latency", "added_p50_us", "", ("le", 1.2))], "µs"),
    ]
    for title, rows, unit in sections:
        print(f"#### {title}\n\n{target_table(runs, rows, runtimes, unit)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
