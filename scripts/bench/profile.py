#!/usr/bin/env python3
"""Profile mailproxy under the benchmark's load: starts the shared backend and auth
service, runs `src/main.ts` under `bun --cpu-prof-md` (master and worker, through
BUN_OPTIONS; Bun only) with the benchmark's config, drives one scenario at it and
stops it so the profile is written.

  python3 scripts/bench/profile.py storm imap [seconds]
  python3 scripts/bench/profile.py relay imap
  BENCH_AUTH=closing python3 scripts/bench/profile.py storm imap 4   (auth service answers HTTP/1.0 and closes)

The profile (Markdown, Bun's format) lands in scripts/bench/.results/profile/.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lib import config, setup  # noqa: E402
from lib.services import REPO, SharedServices, stop, wait_ports  # noqa: E402


def main() -> int:
    kind = sys.argv[1] if len(sys.argv) > 1 else "storm"
    proto = sys.argv[2] if len(sys.argv) > 2 else "imap"
    secs = sys.argv[3] if len(sys.argv) > 3 else "4"
    ports = config.Ports.from_base(int(os.environ.get("BENCH_PORT_BASE", "27100")))
    auth = os.environ.get("BENCH_AUTH", "keepalive")
    tools = setup.build_tools(os.path.join(setup.HERE, ".build"))
    work = tempfile.mkdtemp(prefix="mailproxy-prof-")
    cert = setup.make_cert(work)
    out_dir = os.path.join(setup.HERE, ".results", "profile")
    os.makedirs(out_dir, exist_ok=True)
    conf = os.path.join(work, "proxy.conf")
    with open(conf, "w") as f:
        f.write(config.top_level(1, os.path.join(work, "error.log"), None) + config.mail_block(ports, *cert, auth))
    services = SharedServices(tools, ports, work)
    try:
        # the worker runs as `user` (nobody, when started as root): it writes where anyone may
        prof_dir = os.path.join(work, "profile")
        os.makedirs(prof_dir)
        os.chmod(work, 0o755)
        os.chmod(prof_dir, 0o1777)
        argv = [os.path.join(REPO, "node_modules/.bin/bun"), os.path.join(REPO, "src/main.ts"), "-c", conf]
        # through the environment, so that the worker process (where the sessions run; worker_processes 1
        # is a master and one worker) is profiled too, not only the master that spawns it
        env = dict(os.environ, BUN_OPTIONS=f"--cpu-prof-md --cpu-prof-dir {prof_dir}")
        p = subprocess.Popen(argv, cwd=REPO, env=env)
        wait_ports(ports.listen(), p)
        port = {"imap": ports.imap, "pop3": ports.pop3, "smtp": ports.smtp}[proto]
        if kind == "storm":
            args = ["storm", proto, port, 50, secs]
        else:
            args = ["relay", proto, port, 4, 64]
        r = subprocess.run([tools["load"], *map(str, args)], capture_output=True, text=True)
        print(r.stdout.strip(), r.stderr.strip()[:300])
        stop(p, signal.SIGTERM)
        profiles = [shutil.copy(os.path.join(prof_dir, n), out_dir) for n in os.listdir(prof_dir)]
    finally:
        services.stop()
        shutil.rmtree(work, ignore_errors=True)
    # the worker's profile is the largest (the master idles during the load)
    for path in sorted(profiles, key=os.path.getsize):
        print(f"profile: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
