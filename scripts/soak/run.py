#!/usr/bin/env python3
"""`make soak`: mailproxy under steady mixed load for a long time (default 10
minutes), watching its memory and open fds. Not a test; never in CI.

Starts the benchmark's scripted backend and auth service (scripts/bench/c/),
one mailproxy, and soak-load (c/soak-load.c), which opens IMAP, POP3 and SMTP
login sessions in turn at a fixed rate and keeps a few relay sessions moving
data (each one RELAYs its share every second and is replaced after a lifetime).
Every few seconds it reads the RSS and the open fds of every mailproxy process
from /proc. At the end it waits for the sessions to close, counts the fds left,
and prints a verdict (rules in lib/verdict.py); exit status 1 when it fails.

Environment:
  SOAK_SECONDS=600         how long the load runs
  SOAK_RATE=N              logins per second (IMAP, POP3, SMTP in turn); default:
                           half the capacity measured right before the soak (a 3 s
                           closed-loop login storm per protocol, 50 clients)
  SOAK_CAPACITY_CLIENTS=50, SOAK_CAPACITY_SECONDS=3   that measurement's storms
  SOAK_WORKERS=1           worker_processes
  SOAK_RUNTIME=bun         bun (dist/mailproxy) or deno (src/main.ts)
  SOAK_RELAYS=4            long-lived relay sessions (IMAP, POP3, SMTP, IMAP, ...)
  SOAK_RELAY_MIBPS=4       MiB each way per relay session per second
  SOAK_RELAY_LIFETIME=60   seconds before a relay session logs out and is replaced
  SOAK_SAMPLE_SECONDS=5    /proc sampling interval
  SOAK_WARMUP=N            seconds of samples the verdict ignores (default 10 %, ≥ 15 s)
  SOAK_PORT_BASE=27200     first of 8 loopback ports (the benchmark uses 27100)
"""
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "bench"))
from lib import config as bench_config, scenarios, setup  # noqa: E402  (scripts/bench/lib: shared with the benchmark)
from lib.services import REPO, Proxy, SharedServices  # noqa: E402
from soaklib import loadgen, procfs, report, verdict  # noqa: E402

T0 = time.monotonic()
MiB = 1 << 20


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def env_num(name: str, default: float | None) -> float | None:
    v = os.environ.get(name, "").strip()
    return float(v) if v else default


def measure_capacity(tools, proxy: Proxy, ports, clients: int, secs: float) -> dict[str, float]:
    """Closed-loop login storms (the benchmark's): 1 s warm-up, then `secs` per protocol."""
    caps = {}
    for proto in ("imap", "pop3", "smtp"):
        port = getattr(ports, proto)
        scenarios.load(tools, ["storm", proto, port, clients, 1], 30)
        r = scenarios.load(tools, ["storm", proto, port, clients, secs], secs + 30)
        caps[proto] = r["sessions"] / r["secs"]
        say(f"  capacity {proto}: {caps[proto]:,.0f} logins/s")
    return caps


def file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def problem_log_lines(path: str, offset: int) -> list[str]:
    try:
        with open(path, errors="replace") as f:
            f.seek(offset)
            return [l.rstrip("\n") for l in f if any(w in l for w in ("[error]", "[crit]", "[alert]", "[emerg]"))]
    except OSError:
        return []


def main() -> int:
    seconds = env_num("SOAK_SECONDS", 600)
    rate = env_num("SOAK_RATE", None)
    workers = int(env_num("SOAK_WORKERS", 1))
    runtime = os.environ.get("SOAK_RUNTIME", "bun")
    relays = int(env_num("SOAK_RELAYS", 4))
    relay_mibps = env_num("SOAK_RELAY_MIBPS", 4)
    relay_lifetime = env_num("SOAK_RELAY_LIFETIME", 60)
    sample_secs = env_num("SOAK_SAMPLE_SECONDS", 5)
    warmup = env_num("SOAK_WARMUP", max(15, seconds * 0.1))
    ports = bench_config.Ports.from_base(int(env_num("SOAK_PORT_BASE", 27200)))
    if runtime == "bun" and not os.path.exists(os.path.join(REPO, "dist", "mailproxy")):
        sys.exit("soak: dist/mailproxy is missing (run `make build`)")

    build_dir = os.path.join(HERE, ".build")
    tools = setup.build_tools(build_dir)
    soak_exe = loadgen.build(build_dir)
    work = tempfile.mkdtemp(prefix="mailproxy-soak-")
    cert = setup.make_cert(work)
    say(f"work dir {work}; ports from {ports.backend_imap}")
    services = SharedServices(tools, ports, work)
    proxy = load = None
    try:
        caps = None
        if rate is None:
            say("measuring capacity (half of it is the soak's rate)")
            proxy = Proxy(runtime, workers, ports, cert, work)
            proxy.start()
            caps = measure_capacity(tools, proxy, ports, int(env_num("SOAK_CAPACITY_CLIENTS", 50)),
                                    env_num("SOAK_CAPACITY_SECONDS", 3))
            proxy.stop()
            mixed = 3 / sum(1 / c for c in caps.values())  # one third of the logins each
            rate = round(mixed / 2 / 10) * 10
            say(f"  mixed capacity {mixed:,.0f} logins/s → soak rate {rate:,.0f}/s")

        proxy = Proxy(runtime, workers, ports, cert, work)  # fresh: the soak starts from a cold process
        proxy.start()
        error_log = os.path.join(proxy.dir, "error.log")
        log_offsets = {p: file_size(p) for p in (error_log, os.path.join(proxy.dir, "stdout.log"))}
        time.sleep(1)
        pids0 = proxy.pids()
        listen = set(ports.listen())
        backends = {ports.backend_imap, ports.backend_pop3, ports.backend_smtp}
        before = procfs.fd_breakdown(pids0, listen, backends, ports.auth)
        idle0 = procfs.holdings(pids0)
        say(f"{proxy.label}, {workers} worker(s), pids {pids0}: idle RSS {idle0.rss_bytes / MiB:.1f} MiB, "
            f"{idle0.fds} fds {before}")
        say(f"soak: {seconds:.0f} s at {rate:,.0f} logins/s + {relays} relay sessions × {relay_mibps:g} MiB/s "
            f"each way; sampling every {sample_secs:g} s, verdict ignores the first {warmup:.0f} s")

        load = loadgen.SoakLoad(soak_exe, ports, rate, seconds, relays, relay_mibps, relay_lifetime,
                                max_inflight=2000, session_timeout=10)
        start = time.monotonic()
        samples = [{"t": 0.0, "rss": idle0.rss_bytes, "fds": idle0.fds, "procs": len(idle0.pids), "logins": 0,
                    "errors": 0, "relay_bytes": 0, "inflight": 0, "lg_cpu": 0, "lg_t": 0.0, "cpu": proxy.cpu(),
                    "login_p99_ms": 0.0, "login_max_ms": 0.0}]
        seen_pids = set(pids0)
        next_at = start + sample_secs
        while load.running():
            time.sleep(max(0.0, min(next_at - time.monotonic(), 0.5)))
            if time.monotonic() < next_at:
                continue
            next_at += sample_secs
            pids = proxy.pids()
            seen_pids.update(pids)
            h = procfs.holdings(pids)
            st = dict(load.latest)
            s = {"t": round(time.monotonic() - start, 2), "rss": h.rss_bytes, "fds": h.fds, "procs": len(h.pids),
                 "logins": st.get("imap", 0) + st.get("pop3", 0) + st.get("smtp", 0),
                 "errors": st.get("errors", 0), "relay_bytes": st.get("relay_bytes", 0),
                 "inflight": st.get("inflight", 0), "lg_cpu": st.get("lg_cpu", 0), "lg_t": st.get("t", 0),
                 "cpu": proxy.cpu(), **load.take_worst_latency()}
            samples.append(s)
            say(f"t={s['t']:5.0f}s RSS {h.rss_bytes / MiB:6.1f} MiB  fds {h.fds:5d}  logins {s['logins']:9,.0f}  "
                f"relayed {s['relay_bytes'] / MiB:8,.0f} MiB  login p99 {s['login_p99_ms']:.1f} ms  errors {s['errors']:.0f}")
        load.wait(30)
        final = load.final or load.latest
        say(f"load done: {final}")

        # the sessions close; fds the proxy still holds after that are what it kept
        settle_start = time.monotonic()
        while True:
            after = procfs.fd_breakdown(proxy.pids(), listen, backends, ports.auth)
            if after["clients"] + after["backends"] == 0 or time.monotonic() - settle_start > 40:
                break
            time.sleep(1)
        settle_secs = time.monotonic() - settle_start
        pids_end = proxy.pids()
        idle1 = procfs.holdings(pids_end)
        alive = proxy.p.poll() is None
        replaced = len(seen_pids | set(pids_end)) - len(pids0)
        say(f"after {settle_secs:.0f} s: RSS {idle1.rss_bytes / MiB:.1f} MiB, {idle1.fds} fds {after}")

        checks = verdict.judge(samples, warmup, final, rate, seconds, before, after, alive, replaced, len(pids0),
                               len(ports.listen()))
        problems = [l for p, off in log_offsets.items() for l in problem_log_lines(p, off)]
        run = {
            "stamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                     cwd=REPO).stdout.strip(),
            "runtime": proxy.label, "workers": workers, "seconds": seconds, "rate": rate, "capacity": caps,
            "relays": relays, "relay_mibps": relay_mibps, "relay_lifetime": relay_lifetime, "warmup": warmup,
            "sample_secs": sample_secs, "idle_before": idle0.__dict__, "idle_after": idle1.__dict__,
            "fds_before": before, "fds_after": after, "settle_secs": settle_secs, "load": final,
            "error_lines": load.error_lines[:50], "log_problems": problems[:50], "log_problem_count": len(problems),
            "rss_slope_mib_per_hour": verdict.slope_per_hour(
                [s["t"] for s in samples if s["t"] >= warmup], [s["rss"] / MiB for s in samples if s["t"] >= warmup]),
            "samples": samples,
        }
        text = report.markdown(run, checks)
        print(text)
        out_dir = os.path.join(HERE, ".results")
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "latest.md"), "w") as f:
            f.write(text)
        with open(os.path.join(out_dir, "latest.json"), "w") as f:
            json.dump({"run": run, "checks": [c.__dict__ for c in checks]}, f, indent=1)
        say(f"results in {out_dir}/latest.md")
        return 0 if all(c.ok for c in checks) else 1
    finally:
        if load and load.running():
            load.p.kill()
            load.p.wait()
        if proxy:
            proxy.stop()
        services.stop()


if __name__ == "__main__":
    sys.exit(main())
