#!/usr/bin/env python3
"""mailproxy vs nginx mail proxy benchmark (`make bench`). Not a test; never in CI.

Starts one scripted backend and one auth_http service (both C, epoll), gives
nginx (Debian's, with libnginx-mod-mail) and mailproxy (dist/mailproxy = Bun,
and src/main.ts under Deno) the same mail {} config, and drives the same load
at each in turn, round after round (A B C A B C), first with one worker each,
then with two. Prints medians and mailproxy/nginx ratios against the targets.

Environment:
  BENCH_QUICK=1        ~2 minute smoke run (shorter windows, smaller transfers)
  BENCH_ROUNDS=N       rounds per proxy (default 2)
  BENCH_RUNTIMES=...   comma list of nginx,bun,deno (default all three), and `ref`:
                       BENCH_REF_BINARY, another compiled mailproxy, for before/after runs;
                       `floor` / `floor-native`: a bare pipe under Bun on node:net
                       (floor_pipe.ts) / on Bun.listen (floor_native.ts), the least
                       any proxy on that socket layer costs
  BENCH_WORKERS=...    comma list of worker counts (default 1,2)
  BENCH_SCENARIOS=...  comma list of storm,relay,idle,latency,tls (default all)
  BENCH_AUTH=...       comma list of keepalive,closing (default both): the auth service
                       answers HTTP/1.1 with keep-alive, or HTTP/1.0 and closes (nginx's
                       usual world). The first mode runs every scenario; each further mode
                       runs the login storms again (plain and TLS) on a fresh proxy
  BENCH_PORT_BASE=N    first of 9 loopback ports (default 27100)
  BENCH_CERT_KEY=ec     the servers' certificate on a P-256 ECDSA key instead of RSA-2048
  BENCH_WARM_SECS=S    warm-up before each storm's measured window (default 1): a longer
                       one measures the steady state, after the JIT has compiled what it will
"""
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import config, report, scenarios, setup  # noqa: E402
from lib.scenarios import ScenarioFailed  # noqa: E402
from lib.services import REPO, Proxy, SharedServices  # noqa: E402

T0 = time.monotonic()


def say(msg: str) -> None:
    print(f"[{time.monotonic() - T0:6.1f}s] {msg}", file=sys.stderr, flush=True)


def env_list(name: str, default: str) -> list[str]:
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


def attempt(store: dict, key: str, fn) -> None:
    try:
        store.setdefault(key, []).append(fn())
    except (ScenarioFailed, RuntimeError) as e:
        say(f"  {key}: FAILED: {e}")
        store.setdefault(key, []).append(str(e))


def run_logins(tools, proxy, ports, prm, wanted, store) -> None:
    """The scenarios that ask the auth service: the login storms, plain and TLS."""
    if "storm" in wanted:
        for proto in ("imap", "pop3", "smtp"):
            attempt(store, config.login_key(proxy.auth, f"storm/{proto}"),
                    lambda: scenarios.storm(tools, proxy, proto, getattr(ports, proto), prm))
    if "tls" in wanted:
        attempt(store, config.login_key(proxy.auth, "tls-storm"),
                lambda: scenarios.storm(tools, proxy, "imap", ports.imaps, prm, tls=True))


def run_auth_mode(tools, runtime, workers, ports, cert, work, prm, wanted, store, auth) -> None:
    """A further turn for another auth mode: a fresh proxy, the login storms only. The
    floors ask no auth service: their storms stand for every mode (report.value)."""
    if runtime in Proxy.FLOORS or not wanted & {"storm", "tls"}:
        return
    proxy = Proxy(runtime, workers, ports, cert, work, auth)
    try:
        proxy.start()
    except RuntimeError as e:
        say(f"{proxy.label} ({auth} auth): did not start: {e}\n{proxy.log_tail()}")
        store.setdefault(config.login_key(auth, "storm/imap"), []).append(f"did not start: {e}")
        return
    say(f"{proxy.label} ({workers} worker(s), {auth} auth), pids {proxy.pids()}")
    try:
        run_logins(tools, proxy, ports, prm, wanted, store)
    finally:
        proxy.stop()


def run_proxy(tools, runtime, workers, ports, cert, work, prm, wanted, store, auth="keepalive") -> bool:
    """One turn of one proxy: every scenario. False when it cannot run `workers` workers."""
    proxy = Proxy(runtime, workers, ports, cert, work, auth)
    try:
        proxy.start()
    except RuntimeError as e:
        say(f"{proxy.label}: did not start: {e}\n{proxy.log_tail()}")
        for key in ("storm/imap", "relay/imap", "latency"):
            store.setdefault(key, []).append(f"did not start: {e}")
        return True
    if proxy.worker_processes() < workers:
        say(f"{proxy.label}: runs {proxy.worker_processes()} process(es) for worker_processes {workers}: n/a")
        proxy.stop()
        return False
    say(f"{proxy.label} ({workers} worker(s), {auth} auth), pids {proxy.pids()}")
    try:
        if "storm" in wanted:
            run_logins(tools, proxy, ports, prm, wanted - {"tls"}, store)
        if "relay" in wanted:
            for proto in ("imap", "pop3", "smtp"):
                attempt(store, f"relay/{proto}",
                        lambda: scenarios.relay(tools, proxy, proto, getattr(ports, proto), prm))
        if "latency" in wanted:
            attempt(store, "latency", lambda: scenarios.latency(tools, proxy, prm))
        if "tls" in wanted:
            run_logins(tools, proxy, ports, prm, wanted - {"storm"}, store)
            attempt(store, "tls-relay", lambda: scenarios.relay(tools, proxy, "imap", ports.imaps, prm, tls=True))
    finally:
        proxy.stop()
    if "idle" in wanted:
        for i, count in enumerate(prm.idle_counts):
            fresh = Proxy(runtime, workers, ports, cert, work, auth)
            try:
                fresh.start()
                # the smallest count also measures what as many more sessions add (the larger would pass the fd limit)
                attempt(store, f"idle/{i}", lambda: scenarios.idle(tools, fresh, count, prm, further=i == 0))
            except RuntimeError as e:
                store.setdefault(f"idle/{i}", []).append(f"did not start: {e}")
            finally:
                fresh.stop()
    return True


def versions() -> dict:
    def out(argv):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=30)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except Exception:
            return "?"

    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {
        "nginx": setup.nginx_version(),
        "bun": out([os.path.join(REPO, "node_modules/.bin/bun"), "--version"]),
        "deno": out([os.path.join(REPO, "node_modules/.bin/deno"), "--version"]),
        "commit": out(["git", "rev-parse", "--short", "HEAD"]),
        "cpu": f"{cpu}, {os.cpu_count()} cores",
        "kernel": platform.release(),
    }


def main() -> int:
    quick = os.environ.get("BENCH_QUICK") == "1"
    prm = scenarios.Params.quick() if quick else scenarios.Params.full()
    if "BENCH_WARM_SECS" in os.environ:
        prm.warm_secs = float(os.environ["BENCH_WARM_SECS"])
    rounds = int(os.environ.get("BENCH_ROUNDS", "2"))
    runtimes = env_list("BENCH_RUNTIMES", "nginx,bun,deno")
    if "nginx" not in runtimes:
        runtimes.insert(0, "nginx")
    worker_counts = [int(w) for w in env_list("BENCH_WORKERS", "1,2")]
    wanted = set(env_list("BENCH_SCENARIOS", "storm,relay,idle,latency,tls"))
    auths = env_list("BENCH_AUTH", ",".join(config.AUTH_MODES))
    if any(a not in config.AUTH_MODES for a in auths):
        sys.exit(f"bench: BENCH_AUTH takes {','.join(config.AUTH_MODES)}, not {','.join(auths)}")
    ports = config.Ports.from_base(int(os.environ.get("BENCH_PORT_BASE", "27100")))

    setup.ensure_nginx()
    if "bun" in runtimes and not os.path.exists(os.path.join(REPO, "dist", "mailproxy")):
        say("dist/mailproxy is missing (run `make build`): Bun is left out")
        runtimes.remove("bun")
    tools = setup.build_tools(os.path.join(setup.HERE, ".build"))
    work = tempfile.mkdtemp(prefix="mailproxy-bench-")
    cert = setup.make_cert(work)
    info = versions()
    say(f"{'quick' if quick else 'full'} run, {rounds} rounds, runtimes {runtimes}, workers {worker_counts}, "
        f"auth {auths}; work dir {work}")

    results: dict[int, dict] = {}
    services = SharedServices(tools, ports, work)
    try:
        for workers in worker_counts:
            per_rt: dict[str, dict | None] = {rt: {} for rt in runtimes}
            results[workers] = per_rt
            for rnd in range(rounds):
                for rt in runtimes:
                    if per_rt[rt] is None:
                        continue
                    say(f"round {rnd + 1}/{rounds}: {Proxy.LABELS[rt]}, {workers} worker(s)")
                    if not run_proxy(tools, rt, workers, ports, cert, work, prm, wanted, per_rt[rt], auths[0]):
                        per_rt[rt] = None
                        continue
                    for auth in auths[1:]:
                        run_auth_mode(tools, rt, workers, ports, cert, work, prm, wanted, per_rt[rt], auth)
    finally:
        services.stop()

    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    md = [f"Run {stamp}, {'quick (BENCH_QUICK=1)' if quick else 'full'}, {rounds} rounds, medians. "
          f"nginx {info['nginx']}, Bun {info['bun']}, {info['deno']}, mailproxy {info['commit']}; "
          f"{info['cpu']}, Linux {info['kernel']}.",
          f"Storms: {prm.concurrency} concurrent clients for {prm.storm_secs}s after a {prm.warm_secs}s warm-up. "
          f"Relay: {prm.relay_sessions} sessions × {prm.relay_mib} MiB each way; MiB/s counts both directions. "
          f"Latency: {prm.latency_count} IMAP NOOPs on one session; added = through the proxy − direct to the backend.",
          ""]
    for workers, per_rt in results.items():
        md.append(report.table(per_rt, runtimes, Proxy.LABELS, prm.idle_counts, workers, auths))
    busy = [r["loadgen_busy"] for per_rt in results.values() for rt in (per_rt or {}).values() if rt
            for rounds_ in rt.values() for r in rounds_ if isinstance(r, dict) and "loadgen_busy" in r]
    if busy:
        md.append(f"Load generator: at most {max(busy) * 100:.0f}% of one core in any storm or relay window.\n")
    fails = [f"{w} worker(s): {f}" for w, per_rt in results.items() for f in report.failures(per_rt)]
    if fails:
        md.append("Failures:\n\n" + "\n".join(f"- {f}" for f in fails) + "\n")
    text = "\n".join(md)
    print(text)
    out_dir = os.path.join(setup.HERE, ".results")
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "latest.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "latest.json"), "w") as f:
        json.dump({"info": info, "quick": quick, "params": prm.__dict__, "auth": auths, "results": results}, f,
                  indent=1)
    say(f"done; table in {out_dir}/latest.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
