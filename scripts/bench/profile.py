#!/usr/bin/env python3
"""Profile mailproxy under the benchmark's load: starts the shared backend and auth
service, runs `src/main.ts` under `bun --cpu-prof-md` (or `deno --cpu-prof` is not
available: Bun only) with the benchmark's config, drives one scenario at it and
stops it so the profile is written.

  python3 scripts/bench/profile.py storm imap [seconds]
  python3 scripts/bench/profile.py relay imap

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
    tools = setup.build_tools(os.path.join(setup.HERE, ".build"))
    work = tempfile.mkdtemp(prefix="mailproxy-prof-")
    cert = setup.make_cert(work)
    out_dir = os.path.join(setup.HERE, ".results", "profile")
    os.makedirs(out_dir, exist_ok=True)
    os.chmod(out_dir, 0o1777)  # workers started as root run as `nobody` and write their profiles here
    conf = os.path.join(work, "proxy.conf")
    with open(conf, "w") as f:
        f.write(config.top_level(1, os.path.join(work, "error.log"), None) + config.mail_block(ports, *cert))
    services = SharedServices(tools, ports, work)
    try:
        argv = [os.path.join(REPO, "node_modules/.bin/bun"), os.path.join(REPO, "src/main.ts"), "-c", conf]
        # In BUN_OPTIONS the flags reach the worker processes too (as root, one master + workers).
        env = dict(os.environ, BUN_OPTIONS=f"--cpu-prof-md --cpu-prof-dir {out_dir}")
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
    finally:
        services.stop()
        shutil.rmtree(work, ignore_errors=True)
    # The worker's profile is the one with the most samples: the largest of the newest files.
    newest = sorted((os.path.join(out_dir, n) for n in os.listdir(out_dir)), key=os.path.getmtime)[-2:]
    print(f"profile: {max(newest, key=os.path.getsize)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
