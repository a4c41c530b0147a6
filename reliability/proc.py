"""Measure a server process from outside: memory, open files, sockets; cap its memory.

Used by the reliability commands and by the fast reliability tests in `tests/`.
Linux only (reads /proc).
"""

from __future__ import annotations

import os
import resource
import socket
import time
from pathlib import Path

MEMORY_CAP = 4 << 30  # address space a server under hostile input may use (bytes)


def cap_memory(pid: int, limit: int = MEMORY_CAP) -> None:
    """Bound the address space of `pid`: a runaway allocation fails there, not on the machine."""
    resource.prlimit(pid, resource.RLIMIT_AS, (limit, limit))


def rss_kb(pid: int) -> int:
    """Resident memory of `pid` in KiB (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """CPU time `pid` has used, user plus system, in seconds (unaffected by other load)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def fd_count(pid: int) -> int:
    """Open file descriptors of `pid` (sockets included)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def socket_count(pid: int) -> int:
    """Open sockets of `pid`."""
    count = 0
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed while we looked
    return count


def settle(pid: int, baseline: int, *, timeout: float = 10.0, slack: int = 0) -> int:
    """Wait until `pid` holds at most `baseline + slack` descriptors; return the last count."""
    deadline = time.monotonic() + timeout
    count = fd_count(pid)
    while count > baseline + slack and time.monotonic() < deadline:
        time.sleep(0.1)
        count = fd_count(pid)
    return count


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_request(path: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    """HTTP/1.1 request bytes for a POST with a JSON body (for raw-socket clients)."""
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body
