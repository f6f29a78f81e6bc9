"""Reading the dashboard's server-sent events as a browser would: each `snapshot` event updates some sections."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from typing import Any

import aiohttp


class Stream:
    """The sections as a watcher holds them, updated event by event."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.sections: dict[str, str] = {}
        self.events = 0

    async def _event(self, timeout: float) -> dict[str, Any] | None:
        name, data = "", []
        while True:
            raw = await asyncio.wait_for(self.response.content.readline(), timeout)
            if not raw:
                raise ConnectionError("the stream ended")
            line = raw.decode().rstrip("\n")
            if line == "":
                if name == "snapshot" and data:
                    return dict(json.loads("\n".join(data)))
                name, data = "", []
            elif line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])

    async def until(self, check: Callable[[dict[str, str]], bool], timeout: float = 30) -> dict[str, str]:
        """Read events until `check` holds for the sections (a generous deadline: the machine is shared)."""
        end = time.monotonic() + timeout
        while not check(self.sections):
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError(f"the dashboard never showed it; last sections: {self.sections}")
            event = await self._event(left)
            if event is not None:
                self.sections.update(event["sections"])
                self.events += 1
        return self.sections


def number(html: str, element_id: str) -> int | None:
    """The number shown in the element with that id."""
    found = re.search(rf'id="{element_id}">\s*(\d+)\s*<', html)
    return int(found.group(1)) if found else None
