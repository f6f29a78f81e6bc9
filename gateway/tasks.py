"""Stopping background tasks without swallowing the caller's own cancellation.

`task.cancel(); with suppress(CancelledError): await task` has a trap: if the caller is itself being
cancelled while it waits, the suppress eats the caller's CancelledError too, and a loop that should
stop runs on. `asyncio.wait` never raises the awaited task's outcome, only the caller's own
cancellation, so it separates the two.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("intake.tasks")


def being_cancelled() -> bool:
    """True when the current task has a cancellation pending, even if a library turned the
    CancelledError into another exception on the way (redis-py surfaces it as a ConnectionError)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel the tasks and wait until each has finished. The caller's own cancellation propagates."""
    live = {t for t in tasks if not t.done()}
    for t in live:
        t.cancel()
    if live:
        await asyncio.wait(live)
    for t in tasks:
        # Retrieve every outcome so asyncio never reports an exception nobody read.
        if not t.cancelled() and (exc := t.exception()) is not None:
            log.warning("a stopped task had failed", extra={"error": type(exc).__name__})


def stop_if_cancelled() -> None:
    """Raise CancelledError when the current task was asked to stop but an awaited call returned anyway.

    redis-py (8.1 here, and redis/redis-py#2028 before it) can swallow a cancellation that lands while it
    opens a connection: the command returns normally and the task's loop would run on for ever. Every
    loop that awaits Redis calls this after the await.
    """
    if being_cancelled():
        raise asyncio.CancelledError


async def until_stopped_or_dead(stop: asyncio.Event, loops: Sequence[asyncio.Task[Any]]) -> list[str]:
    """Wait until `stop` is set or one of `loops` (each meant to run until cancelled) ends by itself.

    Returns the names of the loops that ended, each logged with its error: a process left running with a dead
    loop would look alive to its supervisor while doing nothing, so the caller exits non-zero instead."""
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({stopper, *loops}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    dead = [t for t in loops if t.done()]
    for t in dead:
        exc = None if t.cancelled() else t.exception()
        log.error("a background loop ended", extra={"loop": t.get_name(), "error": type(exc).__name__})
    return [t.get_name() for t in dead]
