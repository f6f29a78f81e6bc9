"""Request-path Redis reads, grouped: the callers waiting at the same moment share one round trip.

Callers put their question on a list and wait on a future; one task takes what is waiting, asks Redis
once for all of it (`_answer`), and answers every future. While that is in flight the next batch
gathers. The task starts with the first caller rather than with the app, so every process that reads
gets it and nothing runs while nobody waits. gateway.group_commit does the same for writes.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Generic, TypeVar

Q = TypeVar("Q")
A = TypeVar("A")

Waiter = tuple[Q, "asyncio.Future[A]"]


class ReadBatcher(ABC, Generic[Q, A]):
    def __init__(self) -> None:
        self._pending: list[tuple[Q, asyncio.Future[A]]] = []
        self._task: asyncio.Task[None] | None = None

    async def ask(self, question: Q) -> A:
        """The answer to `question`, read together with whatever else is waiting.

        Raises what `_answer` raised for the batch, or set for this question alone."""
        fut: asyncio.Future[A] = asyncio.get_running_loop().create_future()
        self._pending.append((question, fut))
        if self._task is None:
            self._task = asyncio.create_task(self._drain())
        return await fut

    def _take(self) -> list[tuple[Q, asyncio.Future[A]]]:
        """The next batch, removed from the waiting list (default: everything waiting)."""
        batch = self._pending[:]
        self._pending.clear()
        return batch

    @abstractmethod
    async def _answer(self, batch: list[tuple[Q, asyncio.Future[A]]]) -> None:
        """Read for the whole batch and answer each future that is not done (its caller may have gone)."""

    async def _drain(self) -> None:
        batch: list[tuple[Q, asyncio.Future[A]]] = []
        try:
            while self._pending:
                batch = self._take()
                try:
                    await self._answer(batch)
                except Exception as exc:  # the batch's round trip failed: every caller in it hears why
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
        except BaseException:
            # Cancelled (the loop is closing): nothing is left to answer whoever still waits.
            for _, fut in batch + self._pending:
                fut.cancel()
            self._pending.clear()
            raise
        finally:
            self._task = None
