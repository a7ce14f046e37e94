"""The soak's result as Markdown: what ran, the verdict's checks, a timeline of
the samples, and the proxy's fds by kind before and after."""
MiB = 1 << 20


def _timeline(samples: list[dict], rows: int = 12) -> list[str]:
    """Evenly spaced samples; rates are over the interval since the previous row."""
    if not samples:
        return ["(no samples)"]
    first, rest = samples[0], samples[1:]  # samples[0]: the idle proxy at t=0
    step = max(len(rest) // rows, 1)
    picked = rest[step - 1::step]
    if rest and picked[-1] is not rest[-1]:
        picked.append(rest[-1])
    out = ["| t (s) | RSS (MiB) | open fds | logins/s | login p99 / max (ms) | relayed MiB/s | proxy CPU % | errors (total) |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|",
           f"| 0 (idle) | {first['rss'] / MiB:.1f} | {first['fds']} | | | | | |"]
    prev = first
    for i, s in enumerate(picked):
        # the worst one-second p99 and the longest login among all samples this row stands for
        covered = rest[i * step:(i + 1) * step] if i < len(picked) - 1 else rest[i * step:]
        p99 = max((c["login_p99_ms"] for c in covered), default=0)
        worst = max((c["login_max_ms"] for c in covered), default=0)
        dt = (s["t"] - prev["t"]) or 1
        lg_dt = (s["lg_t"] - prev["lg_t"]) or 1  # the load generator's counts are as of its own clock
        out.append(f"| {s['t']:.0f} | {s['rss'] / MiB:.1f} | {s['fds']} | {(s['logins'] - prev['logins']) / lg_dt:,.0f} "
                   f"| {p99:.1f} / {worst:.1f} "
                   f"| {(s['relay_bytes'] - prev['relay_bytes']) / MiB / lg_dt:,.1f} "
                   f"| {(s['cpu'] - prev['cpu']) / dt * 100:.0f} | {s['errors']:.0f} |")
        prev = s
    return out


def markdown(run: dict, checks) -> str:
    ok = all(c.ok for c in checks)
    load = run["load"]
    logins = load.get("imap", 0) + load.get("pop3", 0) + load.get("smtp", 0)
    cap = run["capacity"]
    cap_text = (f"half the mixed capacity measured just before ({', '.join(f'{p.upper()} {v:,.0f}' for p, v in cap.items())} logins/s in 50-client storms)"
                if cap else "SOAK_RATE")
    lines = [
        f"Soak {run['stamp']}, mailproxy {run['commit']} on {run['runtime']}, {run['workers']} worker(s): "
        f"{run['seconds']:.0f} s at {run['rate']:,.0f} logins/s ({cap_text}), IMAP/POP3/SMTP in turn, "
        f"plus {run['relays']} relay sessions moving {run['relay_mibps']:g} MiB each way every second "
        f"(each replaced after {run['relay_lifetime']:.0f} s). /proc sampled every {run['sample_secs']:g} s; "
        f"the verdict ignores the first {run['warmup']:.0f} s.",
        "",
        f"Totals: {logins:,.0f} logins (IMAP {load.get('imap', 0):,.0f}, POP3 {load.get('pop3', 0):,.0f}, "
        f"SMTP {load.get('smtp', 0):,.0f}), {load.get('relays', 0):,.0f} relays over "
        f"{load.get('relay_sessions', 0):,.0f} finished relay sessions, {load.get('relay_bytes', 0) / MiB:,.0f} MiB relayed "
        f"(checked byte for byte), {load.get('errors', 0):.0f} client-visible errors; login session time "
        f"(connect to last reply) p50 {load.get('login_p50_ms', 0):.2f} ms, p99 {load.get('login_p99_ms', 0):.2f} ms, "
        f"max {load.get('login_max_ms', 0):.1f} ms; load generator "
        f"{load.get('lg_cpu', 0) / max(load.get('t', 1), 1) * 100:.0f} % of one core.",
        "",
        f"**Verdict: {'PASS' if ok else 'FAIL'}**",
        "",
        f"RSS trend from {run['warmup']:.0f} s to the end (least squares, for information; "
        f"noisy over short runs): {run['rss_slope_mib_per_hour']:+.1f} MiB/hour.",
        "",
        "| check | measured | rule | |",
        "|---|---|---|---|",
        *[f"| {c.what} | {c.measured} | {c.rule} | {'✓' if c.ok else '✗'} |" for c in checks],
        "",
        *_timeline(run["samples"]),
        "",
        f"Proxy fds idle before the load: {_kinds(run['fds_before'])}; "
        f"{run['settle_secs']:.0f} s after it: {_kinds(run['fds_after'])}. "
        f"RSS idle before {run['idle_before']['rss_bytes'] / MiB:.1f} MiB, after {run['idle_after']['rss_bytes'] / MiB:.1f} MiB.",
        "",
    ]
    if run["error_lines"]:
        lines += ["Client-visible errors (first ones):", "", "```", *run["error_lines"][:20], "```", ""]
    if run["log_problem_count"]:
        lines += [f"mailproxy logged {run['log_problem_count']} error-level lines (first ones):", "", "```",
                  *run["log_problems"][:10], "```", ""]
    else:
        lines += ["mailproxy logged no error-level lines.", ""]
    return "\n".join(lines)


def _kinds(counts: dict[str, int]) -> str:
    return ", ".join(f"{v} {k}" for k, v in counts.items() if v) or "none"
