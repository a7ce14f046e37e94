"""Medians over rounds, mailproxy/nginx ratios, and the targets of the issue, as
a Markdown table."""
import statistics
from dataclasses import dataclass


@dataclass
class Row:
    scenario: str
    key: str  # results key, e.g. "storm/imap"
    metric: str  # field of that scenario's dict
    label: str
    target: tuple | None  # ("le", x) ratio ≤ x; ("ge", x) ratio ≥ x; ("plus", µs) value ≤ nginx + µs


ROWS = [
    *(r for proto in ("imap", "pop3", "smtp") for r in (
        Row(f"login storm {proto.upper()}", f"storm/{proto}", "sessions_per_s", "sessions/s", None),
        Row(f"login storm {proto.upper()}", f"storm/{proto}", "cpu_us_per_session", "CPU µs/session", ("le", 1.0)),
    )),
    *(r for proto in ("imap", "pop3", "smtp") for r in (
        Row(f"relay {proto.upper()}", f"relay/{proto}", "mib_per_s", "MiB/s", ("ge", 1.0)),
        Row(f"relay {proto.upper()}", f"relay/{proto}", "cpu_s_per_gib", "CPU s/GiB", ("le", 0.8)),
    )),
    Row("idle", "idle/0", "rss_kib_per_session", "RSS KiB/session", ("le", 1.5)),
    Row("idle", "idle/1", "rss_kib_per_session", "RSS KiB/session", ("le", 1.5)),
    Row("NOOP latency", "latency", "added_p50_us", "added p50 µs", ("le", 1.5)),
    Row("NOOP latency", "latency", "p99_us", "p99 µs", ("plus", 50.0)),
    Row("NOOP latency", "latency", "direct_p50_us", "direct p50 µs (info)", None),
    Row("TLS login storm IMAP", "tls-storm", "sessions_per_s", "sessions/s", None),
    Row("TLS login storm IMAP", "tls-storm", "cpu_us_per_session", "CPU µs/session", ("le", 1.0)),
    Row("TLS relay IMAP", "tls-relay", "mib_per_s", "MiB/s", ("ge", 1.0)),
    Row("TLS relay IMAP", "tls-relay", "cpu_s_per_gib", "CPU s/GiB", ("le", 0.8)),
]


def median(rounds: list, metric: str):
    """Median of a metric over rounds; a string says why there is none."""
    if not rounds:
        return "n/a"
    failed = [r for r in rounds if isinstance(r, str)]
    if failed:
        return "fail"
    return statistics.median(r[metric] for r in rounds)


def fmt(v) -> str:
    if isinstance(v, str):
        return v
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def verdict(row: Row, mine, theirs) -> str:
    if isinstance(mine, str) or isinstance(theirs, str):
        return mine if isinstance(mine, str) else "n/a"
    if row.target and row.target[0] == "plus":
        diff = mine - theirs
        ok = diff <= row.target[1]
        return f"{diff:+.0f} µs {'✓' if ok else '✗'}"
    if theirs <= 0:
        return "n/a"
    ratio = mine / theirs
    if not row.target:
        return f"{ratio:.2f}×"
    ok = ratio <= row.target[1] if row.target[0] == "le" else ratio >= row.target[1]
    return f"{ratio:.2f}× {'✓' if ok else '✗'}"


def met(row: Row, mine, theirs) -> bool | None:
    """Whether a target row is met; None when there is nothing to judge."""
    if not row.target or isinstance(mine, str) or isinstance(theirs, str):
        return None
    kind, x = row.target
    if kind == "plus":
        return mine - theirs <= x
    if theirs <= 0:
        return None
    return mine / theirs <= x if kind == "le" else mine / theirs >= x


def summary(results: dict, runtimes: list[str], labels: dict[str, str], idle_counts: list[int]) -> str:
    """One line per contestant: how many of the targets it meets in this table."""
    rows = [r for r in ROWS if r.target and not (r.key.startswith("idle/") and int(r.key[5:]) >= len(idle_counts))]
    lines = []
    for rt in (rt for rt in runtimes if rt != "nginx"):
        verdicts = [met(r, _value(results, rt, r), _value(results, "nginx", r)) for r in rows]
        judged = [v for v in verdicts if v is not None]
        if judged:
            missed = "every target met" if all(judged) else f"{judged.count(False)} missed"
            lines.append(f"- {labels[rt]}: {judged.count(True)} of {len(judged)} targets met ({missed})")
    return "\n".join(lines)


def target_text(row: Row) -> str:
    if not row.target:
        return ""
    kind, x = row.target
    return {"le": f"≤ {x}×", "ge": f"≥ {x}×", "plus": f"≤ nginx + {x:.0f} µs"}[kind]


def table(results: dict, runtimes: list[str], labels: dict[str, str], idle_counts: list[int], workers: int) -> str:
    """results[runtime][key] = list of per-round dicts (or error strings); None: unsupported."""
    mine = [rt for rt in runtimes if rt != "nginx"]
    head = ["scenario", "metric", "nginx"]
    for rt in mine:
        head += [labels[rt], f"{rt}/nginx"]
    head.append("target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in ROWS:
        scenario = row.scenario
        if row.key.startswith("idle/"):
            idx = int(row.key[5:])
            if idx >= len(idle_counts):
                continue
            scenario = f"idle {idle_counts[idx]:,} sessions"
        cells = [scenario, row.label]
        base = _value(results, "nginx", row)
        cells.append(fmt(base))
        for rt in mine:
            v = _value(results, rt, row)
            cells += [fmt(v), verdict(row, v, base) if row.target or not isinstance(v, str) else "n/a"]
        cells.append(target_text(row))
        lines.append("| " + " | ".join(cells) + " |")
    verdicts = summary(results, runtimes, labels, idle_counts)
    return (f"**{workers} worker{'s' if workers > 1 else ''}**\n\n" + "\n".join(lines) + "\n"
            + (f"\n{verdicts}\n" if verdicts else ""))


def _value(results: dict, runtime: str, row: Row):
    per_rt = results.get(runtime)
    if per_rt is None:
        return "n/a"
    return median(per_rt.get(row.key, []), row.metric)


def failures(results: dict) -> list[str]:
    out = []
    for rt, per_rt in results.items():
        for key, rounds in (per_rt or {}).items():
            for i, r in enumerate(rounds):
                if isinstance(r, str):
                    out.append(f"{rt} {key} round {i + 1}: {r}")
    return out
