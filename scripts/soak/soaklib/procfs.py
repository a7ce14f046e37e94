"""What the proxy holds, read from /proc: resident memory and open file
descriptors of every process in its tree, and (at the start and the end only:
reading /proc/net/tcp costs) which of its fds are sockets to whom."""
import os
from dataclasses import dataclass


@dataclass
class Holdings:
    rss_bytes: int
    fds: int
    pids: list[int]


def holdings(pids: list[int]) -> Holdings:
    """VmRSS and the number of open fds, summed over `pids` (gone processes count 0)."""
    rss = fds = 0
    alive = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1]) * 1024
                        break
            fds += len(os.listdir(f"/proc/{pid}/fd"))
            alive.append(pid)
        except OSError:
            continue
    return Holdings(rss, fds, alive)


def _socket_inodes(pids: list[int]) -> tuple[set[str], int]:
    """Inodes of the sockets the processes hold, and how many other fds they hold."""
    inodes, other = set(), 0
    for pid in pids:
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
            else:
                other += 1
    return inodes, other


def fd_breakdown(pids: list[int], listen_ports: set[int], backend_ports: set[int], auth_port: int) -> dict[str, int]:
    """The proxy's fds by kind: listeners, client connections, backend
    connections, auth service connections, other sockets, non-socket fds."""
    inodes, other = _socket_inodes(pids)
    counts = {"listeners": 0, "clients": 0, "backends": 0, "auth": 0, "other sockets": 0, "non-socket fds": other}
    seen = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            f = open(table)
        except OSError:
            continue
        with f:
            next(f, None)
            for line in f:
                parts = line.split()
                if len(parts) < 10 or parts[9] not in inodes:
                    continue
                seen.add(parts[9])
                local_port = int(parts[1].rsplit(":", 1)[1], 16)
                remote_port = int(parts[2].rsplit(":", 1)[1], 16)
                if parts[3] == "0A":  # LISTEN
                    counts["listeners"] += 1
                elif local_port in listen_ports:
                    counts["clients"] += 1
                elif remote_port in backend_ports:
                    counts["backends"] += 1
                elif remote_port == auth_port:
                    counts["auth"] += 1
                else:
                    counts["other sockets"] += 1
    counts["other sockets"] += len(inodes - seen)  # unix sockets, socketpairs between workers
    return counts
