"""Start and stop the processes under test: the shared backend and auth service,
and one proxy at a time (nginx, or mailproxy under Bun or Deno). Everything is
started by us, on loopback, and stopped by its PID."""
import os
import signal
import socket
import subprocess
import time

from . import config, proc, setup

REPO = os.path.dirname(os.path.dirname(setup.HERE))


def wait_ports(ports: list[int], proc_handle: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            if proc_handle.poll() is not None:
                raise RuntimeError(f"exited with status {proc_handle.returncode} before listening on {port}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not listening on {port} after {timeout}s")
                time.sleep(0.05)


def stop(p: subprocess.Popen, sig: int = signal.SIGTERM, grace: float = 10) -> None:
    if p.poll() is not None:
        return
    p.send_signal(sig)
    try:
        p.wait(grace)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def ephemeral_hint(port: int) -> str:
    """Why a bind may fail on a busy machine: the port is one the kernel gives outgoing
    connections, and one in TIME_WAIT (made without SO_REUSEADDR) blocks it for a minute."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = map(int, f.read().split())
    except (OSError, ValueError):
        return ""
    if not low <= port <= high:
        return ""
    return f" (port {port} is in the ephemeral range {low}-{high}: set BENCH_PORT_BASE outside it)"


class SharedServices:
    """The scripted backend and the auth_http services (keep-alive and closing) every proxy uses."""

    def __init__(self, tools: dict[str, str], ports: config.Ports, work: str):
        self.procs = []
        self.log_path = os.path.join(work, "services.log")
        log = open(self.log_path, "ab")
        be = subprocess.Popen([tools["backend"], str(ports.backend_imap), str(ports.backend_pop3),
                               str(ports.backend_smtp)], stdout=log, stderr=log)
        self.procs.append(be)
        self.wait([ports.backend_imap, ports.backend_pop3, ports.backend_smtp], be)
        for auth in config.AUTH_MODES:
            port = config.auth_port(ports, auth)
            mode = ["closing"] if auth == "closing" else []
            au = subprocess.Popen([tools["auth"], str(port), str(ports.backend_imap), str(ports.backend_pop3),
                                   str(ports.backend_smtp), *mode], stdout=log, stderr=log)
            self.procs.append(au)
            self.wait([port], au)

    def wait(self, ports: list[int], p: subprocess.Popen) -> None:
        try:
            wait_ports(ports, p)
        except RuntimeError as e:
            self.stop()
            with open(self.log_path, errors="replace") as f:
                raise RuntimeError(f"{e}: {f.read()[-300:].strip()}{ephemeral_hint(ports[0])}") from None

    def stop(self) -> None:
        for p in self.procs:
            stop(p)


def floor_argv(runtime: str, workers: int, p: config.Ports, cert: tuple[str, str]) -> list[str]:
    """A floor's command line: its script under its runtime, routing each listener to its backend."""
    rt, script = Proxy.FLOORS[runtime]
    routes = [f"{p.imap}:{p.backend_imap}", f"{p.pop3}:{p.backend_pop3}", f"{p.smtp}:{p.backend_smtp}",
              f"{p.imaps}:{p.backend_imap}:tls"]
    run = ["run", "-A", "--unstable-net"] if rt == "deno" else []  # reusePort on Deno.listen is unstable
    return [os.path.join(REPO, "node_modules", ".bin", rt), *run, os.path.join(setup.HERE, script),
            str(workers), *cert, *routes]


class Proxy:
    """One proxy under test. `runtime` is "nginx", "bun" or "deno" (or a floor, or `ref`);
    `auth`: which auth service its config names (config.AUTH_MODES)."""

    LABELS = {"nginx": "nginx", "bun": "mailproxy (Bun)", "deno": "mailproxy (Deno)", "ref": "reference (Bun)",
              "floor": "bare node:net pipe (Bun)", "floor-native": "bare Bun.listen pipe",
              "floor-deno-node": "bare node:net pipe (Deno)", "floor-deno-native": "bare Deno.listen pipe"}
    # not mailproxy: bare pipes (no auth, no dialogue), the least a proxy on that socket layer costs
    FLOORS = {"floor": ("bun", "floor_pipe.ts"), "floor-native": ("bun", "floor_native.ts"),
              "floor-deno-node": ("deno", "floor_pipe.ts"), "floor-deno-native": ("deno", "floor_deno_native.ts")}

    def __init__(self, runtime: str, workers: int, ports: config.Ports, cert: tuple[str, str], work: str,
                 auth: str = "keepalive"):
        self.runtime, self.workers, self.ports, self.auth = runtime, workers, ports, auth
        self.dir = os.path.join(work, f"{runtime}-w{workers}-{auth}")
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        is_nginx = runtime == "nginx"
        conf = config.top_level(workers, os.path.join(self.dir, "error.log"), setup.MAIL_MODULE if is_nginx else None)
        if is_nginx:
            conf += f"pid {os.path.join(self.dir, 'nginx.pid')};\n"
        conf += config.mail_block(ports, *cert, auth)
        self.conf = os.path.join(self.dir, "proxy.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        if is_nginx:
            self.argv = [setup.NGINX, "-p", self.dir, "-c", self.conf, "-g", "daemon off;"]
        elif runtime == "bun":
            self.argv = [os.path.join(REPO, "dist", "mailproxy"), "-c", self.conf]
        elif runtime in self.FLOORS:
            self.argv = floor_argv(runtime, workers, ports, cert)
        elif runtime == "ref":
            # A/B runs: another build of mailproxy (e.g. the commit before an optimisation), BENCH_REF_BINARY
            self.argv = [os.environ["BENCH_REF_BINARY"], "-c", self.conf]
        else:
            self.argv = [os.path.join(REPO, "node_modules", ".bin", "deno"), "run", "-A",
                         os.path.join(REPO, "src", "main.ts"), "-c", self.conf]
        self.p: subprocess.Popen | None = None

    @property
    def label(self) -> str:
        return self.LABELS[self.runtime]

    def start(self) -> None:
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.p = subprocess.Popen(self.argv, cwd=REPO, stdout=out, stderr=out)
        try:
            wait_ports(self.ports.listen(), self.p)
        except RuntimeError:
            self.stop()
            raise
        time.sleep(0.3)  # let nginx's workers (or mailproxy's) come up

    def pids(self) -> list[int]:
        return proc.tree(self.p.pid)

    def worker_processes(self) -> int:
        """Processes doing the work: nginx's workers, or mailproxy's processes."""
        n = len(self.pids())
        return n - 1 if self.runtime == "nginx" else n

    def cpu(self) -> float:
        return proc.cpu_seconds(self.pids())

    def rss(self) -> int:
        return proc.rss_bytes(self.pids())

    def stop(self) -> None:
        if self.p:
            # nginx: TERM is its fast shutdown; mailproxy does the same
            stop(self.p, signal.SIGTERM)
            self.p = None

    def log_tail(self) -> str:
        text = ""
        for name in ("stdout.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()[-600:]
            except OSError:
                pass
        return text.strip()
