"""Medians over rounds, mailproxy/nginx ratios, and the targets of the issue, as
a Markdown table."""
import statistics
from dataclasses import dataclass

from .config import login_key


@dataclass
class Row:
    scenario: str
    key: str  # results key, e.g. "storm/imap"
    metric: str  # field of that scenario's dict
    label: str
    target: tuple | None  # ("le", x) ratio ≤ x; ("ge", x) ratio ≥ x; ("plus", µs) value ≤ nginx + µs
    auth: str | None = None  # login rows: the auth service's mode (config.AUTH_MODES)


AUTH_LABELS = {"keepalive": "keep-alive auth", "closing": "closing auth"}
# the targets of issue #15 (same-run ratios to nginx): CPU per login ≤ 1.3× with a keep-alive
# auth service, ≤ 1.8× with a closing one; TLS login ≤ 1.2×
LOGIN_TARGET = {"keepalive": 1.3, "closing": 1.8}


def login_rows(auth: str) -> list[Row]:
    storms = [Row(f"login storm {proto.upper()}, {AUTH_LABELS[auth]}", login_key(auth, f"storm/{proto}"), metric, label,
                  target, auth)
              for proto in ("imap", "pop3", "smtp")
              for metric, label, target in (("sessions_per_s", "sessions/s", None),
                                            ("cpu_us_per_session", "CPU µs/session", ("le", LOGIN_TARGET[auth])))]
    tls = [Row(f"TLS login storm IMAP, {AUTH_LABELS[auth]}", login_key(auth, "tls-storm"), metric, label, target, auth)
           for metric, label, target in (("sessions_per_s", "sessions/s", None),
                                         ("cpu_us_per_session", "CPU µs/session", ("le", 1.2)))]
    return storms + tls


ROWS = [
    *login_rows("keepalive"),
    *login_rows("closing"),
    *(r for proto in ("imap", "pop3", "smtp") for r in (
        Row(f"relay {proto.upper()}", f"relay/{proto}", "mib_per_s", "MiB/s", ("ge", 3.0)),
        Row(f"relay {proto.upper()}", f"relay/{proto}", "cpu_s_per_gib", "CPU s/GiB", ("le", 0.6)),
    )),
    Row("TLS relay IMAP", "tls-relay", "mib_per_s", "MiB/s", ("ge", 3.0)),
    Row("TLS relay IMAP", "tls-relay", "cpu_s_per_gib", "CPU s/GiB", ("le", 0.6)),
    Row("idle", "idle/0", "rss_kib_per_session", "RSS KiB/session", ("le", 1.0)),
    Row("idle", "idle/0", "rss_kib_per_further_session", "RSS KiB per further session (info)", None),
    Row("idle", "idle/1", "rss_kib_per_session", "RSS KiB/session", ("le", 0.5)),
    Row("NOOP latency", "latency", "added_p50_us", "added p50 µs", ("le", 1.2)),
    Row("NOOP latency", "latency", "p99_us", "p99 µs (info)", None),
    Row("NOOP latency", "latency", "direct_p50_us", "direct p50 µs (info)", None),
]


def rows_for(auths: list[str]) -> list[Row]:
    """The rows of a run: login rows only for the auth modes it ran."""
    return [r for r in ROWS if r.auth is None or r.auth in auths]


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


def summary(results: dict, runtimes: list[str], labels: dict[str, str], idle_counts: list[int],
            auths: list[str]) -> str:
    """One line per contestant: how many of the targets it meets in this table."""
    rows = [r for r in rows_for(auths)
            if r.target and not (r.key.startswith("idle/") and int(r.key[5:]) >= len(idle_counts))]
    lines = []
    for rt in (rt for rt in runtimes if rt != "nginx"):
        verdicts = [met(r, value(results, rt, r), value(results, "nginx", r)) for r in rows]
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


def table(results: dict, runtimes: list[str], labels: dict[str, str], idle_counts: list[int], workers: int,
          auths: list[str]) -> str:
    """results[runtime][key] = list of per-round dicts (or error strings); None: unsupported."""
    mine = [rt for rt in runtimes if rt != "nginx"]
    head = ["scenario", "metric", "nginx"]
    for rt in mine:
        head += [labels[rt], f"{rt}/nginx"]
    head.append("target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows_for(auths):
        scenario = row.scenario
        if row.key.startswith("idle/"):
            idx = int(row.key[5:])
            if idx >= len(idle_counts):
                continue
            scenario = f"idle {idle_counts[idx]:,} sessions"
        if all(value(results, rt, row) == "n/a" for rt in runtimes):
            continue  # a scenario this run left out
        cells = [scenario, row.label]
        base = value(results, "nginx", row)
        cells.append(fmt(base))
        for rt in mine:
            v = value(results, rt, row)
            cells += [fmt(v), verdict(row, v, base) if row.target or not isinstance(v, str) else "n/a"]
        cells.append(target_text(row))
        lines.append("| " + " | ".join(cells) + " |")
    verdicts = summary(results, runtimes, labels, idle_counts, auths)
    return (f"**{workers} worker{'s' if workers > 1 else ''}**\n\n" + "\n".join(lines) + "\n"
            + (f"\n{verdicts}\n" if verdicts else ""))


def value(results: dict, runtime: str, row: Row):
    per_rt = results.get(runtime)
    if per_rt is None:
        return "n/a"
    key = row.key
    if runtime.startswith("floor") and row.auth not in (None, "keepalive"):
        key = key.split("/", 1)[1]  # a floor asks no auth service: one storm stands for every mode
    return median(per_rt.get(key, []), row.metric)


def failures(results: dict) -> list[str]:
    out = []
    for rt, per_rt in results.items():
        for key, rounds in (per_rt or {}).items():
            for i, r in enumerate(rounds):
                if isinstance(r, str):
                    out.append(f"{rt} {key} round {i + 1}: {r}")
    return out
