"""soak-load (c/soak-load.c): built with the machine's cc, run in the
background; its once-a-second status lines and its error lines are collected
by two reader threads."""
import os
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # scripts/soak


def build(out_dir: str) -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        sys.exit("soak: no C compiler (cc/gcc/clang) found")
    os.makedirs(out_dir, exist_ok=True)
    exe = os.path.join(out_dir, "soak-load")
    r = subprocess.run([cc, "-O2", "-Wall", "-o", exe, os.path.join(HERE, "c", "soak-load.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"soak: building soak-load failed:\n{r.stderr}")
    return exe


def parse_status(line: str) -> dict[str, float]:
    """'t=1.000 imap=12 ...' (or 'final t=...') -> {'t': 1.0, 'imap': 12.0, ...}"""
    return {k: float(v) for k, v in (kv.split("=", 1) for kv in line.split() if "=" in kv)}


class SoakLoad:
    """One run of soak-load. `latest` is its newest status, `final` its last."""

    def __init__(self, exe: str, ports, rate: float, seconds: float, relays: int, relay_mib_per_s: float,
                 relay_lifetime: float, max_inflight: int, session_timeout: float):
        argv = [exe, "-i", ports.imap, "-p", ports.pop3, "-s", ports.smtp, "-r", rate, "-d", seconds,
                "-R", relays, "-m", relay_mib_per_s, "-l", relay_lifetime, "-c", max_inflight,
                "-t", session_timeout]
        self.p = subprocess.Popen([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.latest: dict[str, float] = {}
        self.final: dict[str, float] | None = None
        self.error_lines: list[str] = []
        self._worst = {"login_p99_ms": 0.0, "login_max_ms": 0.0}
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._read_status, daemon=True),
                         threading.Thread(target=self._read_errors, daemon=True)]
        for t in self._threads:
            t.start()

    def _read_status(self) -> None:
        for line in self.p.stdout:
            status = parse_status(line)
            if line.startswith("final"):
                self.final = status
            else:
                with self._lock:
                    for k in self._worst:
                        self._worst[k] = max(self._worst[k], status.get(k, 0.0))
            self.latest = status

    def take_worst_latency(self) -> dict[str, float]:
        """The worst one-second login p99 and the longest login since the last call."""
        with self._lock:
            worst, self._worst = self._worst, {k: 0.0 for k in self._worst}
        return worst

    def _read_errors(self) -> None:
        for line in self.p.stderr:
            self.error_lines.append(line.rstrip("\n"))

    def running(self) -> bool:
        return self.p.poll() is None

    def wait(self, timeout: float) -> int:
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
        for t in self._threads:
            t.join(5)
        return rc
