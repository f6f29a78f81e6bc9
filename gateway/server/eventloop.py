"""The long-running processes' event loop and garbage-collector settings: the fixed costs of each request, mail
and job. The web process and `intake mail` run on uvloop; the web process, `intake mail`, its parsing processes and
`intake worker` settle their heap once started.

uvloop runs aiohttp's transports in C (libuv) and roughly halves the loop's share of a request; in `intake mail` it
carries the IMAP and Redis connections (the poller's CPU per message fell from about 210-290 us to 175-210).
The collector: the process builds its long-lived state (settings, templates, compiled regexes,
pydantic validators) once at start; freezing that state keeps every later full collection from
walking it again, and a larger first generation means fewer collections per thousand requests.
Full collections are what turn into tail latency on a busy webhook endpoint.
"""

from __future__ import annotations

import asyncio
import gc

# Objects allocated between two young-generation collections (CPython's default is 700).
YOUNG_GENERATION_THRESHOLD = 20_000


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # a platform uvloop does not build on: the standard loop works, only slower
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def settle_heap() -> None:
    """Call once the process has built its long-lived objects, just before it starts serving."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_GENERATION_THRESHOLD, older, oldest)
