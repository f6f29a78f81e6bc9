"""Waiting on an outcome, not on the clock: poll until it holds, with a deadline generous for a loaded machine."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

DEADLINE_S = 60.0


async def eventually(check: Callable[[], bool | Awaitable[bool]], what: str, timeout: float = DEADLINE_S) -> None:
    """Return as soon as `check()` is true; fail naming `what` when it is not by the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = check()
        if inspect.isawaitable(outcome):
            outcome = await outcome
        if outcome:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        await asyncio.sleep(0.05)
