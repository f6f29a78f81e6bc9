"""The sockets this test process holds open, read from /proc: how a test proves a client let go of one."""

from __future__ import annotations

import os
from pathlib import Path


def sockets_to(port: int) -> int:
    """This process's open TCP sockets whose far end is 127.0.0.1:port (read from /proc, as `ss -p` does)."""
    ours = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            ours.add(target[8:-1])
    found = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            state_closed = fields[3] == "07"
            if remote_port == port and fields[9] in ours and not state_closed:
                found += 1
    return found
