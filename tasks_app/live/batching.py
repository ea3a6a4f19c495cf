"""Grouping a process's database writes of live calls.

Each socket awaits its own call's write; the writes that arrive while one is
running go together in the next, so 64 sockets calling at once cost a few
transactions, not 64. One batcher per event loop and write (`start`, `finish`).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

logger = logging.getLogger(__name__)


class Batcher:
    """Runs `write(items) -> results` in the database thread for every item
    queued while the previous write ran; each caller gets its own result."""

    def __init__(self, write: Callable[[list[Any]], list[Any]]) -> None:
        self._write = database_sync_to_async(write)
        self._queued: list[tuple[Any, asyncio.Future]] = []
        self._draining = False

    async def submit(self, item: Any) -> Any:
        future = asyncio.get_running_loop().create_future()
        self._queued.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.ensure_future(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:  # each caller sees the failure
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if not future.done():
                        future.set_result(result)
        finally:
            self._draining = False


_batchers: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Callable, Batcher]
] = weakref.WeakKeyDictionary()


def batcher(write: Callable[[list[Any]], list[Any]]) -> Batcher:
    """The running loop's batcher of `write`."""
    per_loop = _batchers.setdefault(asyncio.get_running_loop(), {})
    if write not in per_loop:
        per_loop[write] = Batcher(write)
    return per_loop[write]
