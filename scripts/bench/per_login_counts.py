#!/usr/bin/env python3
"""Per-login counts that a loaded machine does not change (CPU time does): what the
proxy asks of the kernel and how many instructions it runs per login, in the
benchmark's login storm, nginx against mailproxy.

  python3 scripts/bench/per_login_counts.py                 # nginx,bun; imap,pop3,smtp; both auth modes
  COUNT_RUNTIMES=nginx,bun,ref BENCH_REF_BINARY=/tmp/mailproxy-before python3 scripts/bench/per_login_counts.py
  COUNT_PROTOCOLS=imap COUNT_AUTH=closing COUNT_WHAT=syscalls python3 scripts/bench/per_login_counts.py
  COUNT_PROTOCOLS=imaps ...                                 # the IMAP storm over implicit TLS (port 993's listener)

What is counted (COUNT_WHAT, comma list, default syscalls,instructions):
  syscalls      `strace -f -c` attached to every process of the proxy during one storm
                (after a warm-up storm), each syscall's count divided by the sessions the
                load generator completed. Timing-dependent calls (epoll_wait, a read that
                finds nothing) move a little with load; the others are per-login work.
  instructions  user-space instructions per login under valgrind's callgrind, counted
                only over the storm window (`callgrind_control -i on/off`, after
                COUNT_WARM_VALGRIND seconds of warm-up, default 30): the machine has no
                hardware counters (a VM: perf stat's instructions:u/k are "not
                supported"), so this is the count that does not depend on load. The
                event loop thread is reported apart from the JIT's and GC's threads
                (whose share varies between identical runs); windows with few sessions
                (under ~1,500) read high. The kernel's share is not in it (see syscalls).
                The proxies run with `user root` so that callgrind_control reaches the worker.
  perf          `perf stat` over the window: task-clock (CPU time, noisy), context
                switches, page faults, and instructions:u/k where the machine has them.

One worker per proxy, 50 clients (COUNT_CLIENTS), COUNT_SECS seconds per storm (default 2;
under callgrind the proxy is ~50x slower, so fewer sessions, same counts per login).
Prints a table and writes JSON to scripts/bench/.results/per_login_counts-TIME.json; the
work directory (strace output, callgrind dumps) is removed unless COUNT_KEEP=1.
BENCH_PORT_BASE as for run.py (default 27100; pick one below the ephemeral range).
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import config, scenarios, setup  # noqa: E402
from lib.services import Proxy, SharedServices, stop  # noqa: E402


def env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


CLIENTS = int(os.environ.get("COUNT_CLIENTS", "50"))
SECS = float(os.environ.get("COUNT_SECS", "2"))
# Under valgrind a JIT needs many logins before its code settles (tiers count executions).
WARM_VALGRIND = float(os.environ.get("COUNT_WARM_VALGRIND", "30"))


def storm(tools, port: int, proto: str, secs: float) -> int:
    # "imaps": the IMAP storm over implicit TLS (the benchmark's `tls` scenario)
    tls = proto == "imaps"
    args = ["storm", "imap" if tls else proto, port, CLIENTS, secs] + (["tls"] if tls else [])
    r = scenarios.load(tools, args, secs + 60)
    return int(r["sessions"])


def parse_strace(path: str) -> dict[str, int]:
    """strace -c's table: calls per syscall (errors included in calls)."""
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            # % time, seconds, usecs/call, calls, [errors], syscall
            if len(parts) >= 5 and re.fullmatch(r"[\d.]+", parts[0]) and parts[-1] != "total":
                counts[parts[-1]] = int(parts[3])
    return counts


def count_syscalls(tools, proxy: Proxy, port: int, proto: str, work: str) -> dict:
    out = os.path.join(work, f"strace-{proxy.runtime}-{proto}.txt")
    argv = ["strace", "-f", "-c", "-o", out]
    for pid in proxy.pids():
        argv += ["-p", str(pid)]
    tracer = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # attached to every thread
    sessions = storm(tools, port, proto, SECS)
    time.sleep(0.3)  # the last sessions' closes
    tracer.send_signal(signal.SIGINT)
    tracer.wait(30)
    calls = parse_strace(out)
    return {"sessions": sessions, "per_login": {k: v / sessions for k, v in calls.items()},
            "total_per_login": sum(calls.values()) / sessions}


def perf_stat(tools, proxy: Proxy, port: int, proto: str, work: str) -> dict:
    out = os.path.join(work, f"perf-{proxy.runtime}-{proto}.csv")
    events = "task-clock,context-switches,page-faults,instructions:u,instructions:k"
    argv = ["perf", "stat", "-x", ",", "-o", out, "-e", events, "-p", ",".join(map(str, proxy.pids()))]
    p = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    sessions = storm(tools, port, proto, SECS)
    time.sleep(0.1)
    p.send_signal(signal.SIGINT)
    p.wait(30)
    res = {}
    with open(out) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) < 3 or line.startswith("#"):
                continue
            value, event = parts[0], parts[2]
            if event == "task-clock":  # perf gives ms
                event, value = "task-clock µs", str(float(value) * 1000) if not value.startswith("<") else value
            res[event] = None if value.startswith("<not") else float(value) / sessions
    return {"sessions": sessions, "per_login": res}


def callgrind_pids(proxy: Proxy) -> list[int]:
    """The processes doing the work under valgrind: nginx's worker, mailproxy's worker."""
    pids = proxy.pids()
    return pids[1:] if len(pids) > 1 else pids


def control(*args) -> None:
    """callgrind_control on a process (it reaches one asleep in epoll_wait through ptrace)."""
    subprocess.run(["callgrind_control", *map(str, args)], capture_output=True, check=True, timeout=60)


def callgrind_total(path: str) -> int:
    total = 0
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                total = int(line.split()[1])
    return total


def count_instructions(tools, proxy: Proxy, port: int, proto: str, work: str) -> dict:
    pids = callgrind_pids(proxy)
    for pid in pids:
        control("-z", pid)
        control("-i", "on", pid)
    sessions = storm(tools, port, proto, SECS)
    time.sleep(0.5)
    main = others = 0
    for pid in pids:
        control("-i", "off", pid)
        before = set(os.listdir(work))
        control("-d", proto, pid)
        for name in set(os.listdir(work)) - before:
            m = re.fullmatch(rf"callgrind\.{pid}\.\d+-(\d+)", name)
            if not m:
                continue
            n = callgrind_total(os.path.join(work, name))
            # thread 1 runs the event loop: the login's own work; the others are the JIT's
            # compiler threads and the GC's helpers, whose share per login follows the window
            if int(m.group(1)) == 1:
                main += n
            else:
                others += n
    return {"sessions": sessions, "per_login": {"instructions:u": main / sessions, "instructions:u other threads": others / sessions}}


def valgrind_proxy(proxy: Proxy, work: str) -> None:
    """Run the proxy under callgrind, instrumentation off until a window turns it on. Its
    worker stays root (`user root`), so that it can write its counts where the master does
    and callgrind_control (root) can reach it."""
    with open(proxy.conf) as f:
        conf = f.read()
    with open(proxy.conf, "w") as f:
        f.write("user root;\n" + conf)
    out = os.path.join(work, "callgrind.%p")
    proxy.argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
                  "--smc-check=all-non-file", "--error-limit=no", "--separate-threads=yes", f"--callgrind-out-file={out}", *proxy.argv]


def main() -> int:
    runtimes = env_list("COUNT_RUNTIMES", "nginx,bun")
    protos = env_list("COUNT_PROTOCOLS", "imap,pop3,smtp")
    auths = env_list("COUNT_AUTH", "keepalive,closing")
    what = env_list("COUNT_WHAT", "syscalls,instructions")
    ports = config.Ports.from_base(int(os.environ.get("BENCH_PORT_BASE", "27100")))
    if "nginx" in runtimes:
        setup.ensure_nginx()
    tools = setup.build_tools(os.path.join(setup.HERE, ".build"))
    work = tempfile.mkdtemp(prefix="mailproxy-counts-")
    cert = setup.make_cert(work)
    services = SharedServices(tools, ports, work)
    results: dict = {}
    try:
        for auth in auths:
            for runtime in runtimes:
                for kind in what:
                    proxy = Proxy(runtime, 1, ports, cert, work, auth)
                    if kind == "instructions":
                        valgrind_proxy(proxy, work)
                    proxy.start()
                    try:
                        if kind == "instructions":
                            time.sleep(2)  # valgrind's workers come up slowly
                        for proto in protos:
                            port = getattr(ports, proto)
                            # warm-up: JIT tiers count executions, so under valgrind it needs longer
                            storm(tools, port, proto, WARM_VALGRIND if kind == "instructions" else 1)
                            fn = {"syscalls": count_syscalls, "perf": perf_stat, "instructions": count_instructions}[kind]
                            r = fn(tools, proxy, port, proto, work)
                            results.setdefault(auth, {}).setdefault(runtime, {}).setdefault(proto, {})[kind] = r
                            say(f"{auth} {runtime} {proto} {kind}: {r['sessions']} sessions")
                    finally:
                        proxy.stop()
    finally:
        services.stop()
    print_table(results)
    out_dir = os.path.join(setup.HERE, ".results")
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"per_login_counts-{datetime.datetime.now():%Y%m%d-%H%M%S}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=1)
    if os.environ.get("COUNT_KEEP") == "1":
        say(f"results: {path}  (work dir {work})")
    else:
        shutil.rmtree(work, ignore_errors=True)
        say(f"results: {path}")
    return 0


def print_table(results: dict) -> None:
    for auth, by_rt in results.items():
        for proto in dict.fromkeys(p for rt in by_rt.values() for p in rt):
            rts = [rt for rt in by_rt if proto in by_rt[rt]]
            print(f"\n## {proto.upper()}, {auth} auth (per login)\n")
            print("| count | " + " | ".join(rts) + " |")
            print("|---|" + "---:|" * len(rts))
            rows: dict[str, dict[str, float]] = {}
            for rt in rts:
                got = by_rt[rt][proto]
                if "instructions" in got:
                    per = got["instructions"]["per_login"]
                    rows.setdefault("user instructions, event loop thread (callgrind)", {})[rt] = per["instructions:u"]
                    rows.setdefault("user instructions, other threads (JIT, GC helpers)", {})[rt] = per.get("instructions:u other threads", 0)
                if "perf" in got:
                    for ev, v in got["perf"]["per_login"].items():
                        if v is not None:
                            rows.setdefault(f"perf {ev}", {})[rt] = v
                if "syscalls" in got:
                    per = got["syscalls"]["per_login"]
                    rows.setdefault("syscalls, all", {})[rt] = got["syscalls"]["total_per_login"]
                    rows.setdefault("syscalls, without waits and memory", {})[rt] = sum(
                        v for k, v in per.items() if k not in TIMING_CALLS)
                    for name, v in got["syscalls"]["per_login"].items():
                        rows.setdefault(name, {})[rt] = v
            for name, vals in sorted(rows.items(), key=lambda kv: -max(kv[1].values())):
                if max(vals.values()) < 0.05:
                    continue
                cells = [fmt(vals.get(rt)) for rt in rts]
                print(f"| {name} | " + " | ".join(cells) + " |")


# Calls whose count follows timing and the allocator more than the login: waiting for events
# (fewer per login the busier the loop), thread wake-ups, the GC returning memory.
TIMING_CALLS = {"epoll_wait", "epoll_pwait", "epoll_pwait2", "futex", "madvise", "mmap", "munmap", "mprotect",
                "restart_syscall", "sched_yield", "getppid", "openat", "read", "newfstatat", "close_range"}


def fmt(v) -> str:
    if v is None:
        return "–"
    if v >= 10000:
        return f"{v:,.0f}"
    return f"{v:.2f}"


if __name__ == "__main__":
    sys.exit(main())
