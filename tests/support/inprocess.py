"""Running the gateway's worker inside the test process, for plug-ins a test registers in its own registries.

A registry entry made by a test exists only in the test's process, so its worker must run there too.
rq's worker installs signal handlers (SIGINT, SIGTERM, SIGALRM for job timeouts) and does not put the
old ones back: they are restored here, so the rest of the test session keeps pytest's own.
"""

from __future__ import annotations

import signal

from gateway.settings import Settings
from gateway.store.redis_conn import sync_client
from workers import context
from workers.runner import run_worker

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGALRM)


def work_here(settings: Settings) -> None:
    """Run every queued job (and any it queues) with a burst worker in this process."""
    saved = {s: signal.getsignal(s) for s in SIGNALS}
    context.configure(settings)
    client = sync_client(settings)
    try:
        assert run_worker(client, settings, burst=True)
    finally:
        client.close()
        context.configure(settings)  # drop the clients built for this run
        for s, handler in saved.items():
            signal.signal(s, handler)
