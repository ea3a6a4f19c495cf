"""The live sockets' database work: one thread per process, and the calls'
writes grouped.

Each socket awaits its own call's write; the writes that arrive while one is
running go together in the next, so 64 sockets calling at once cost a few
transactions, not 64. One batcher per event loop and write (`start`, `finish`).

The work runs in a thread of its own, not in asgiref's thread for sync code:
that one closes its connection after every message when CONN_MAX_AGE is 0 (as
under ASGI it should be) and is shared with every other consumer's hop. This
thread keeps its connection; one that fails is closed, and the next piece of
work opens a new one.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.db import DatabaseError, connection

logger = logging.getLogger(__name__)

T = TypeVar("T")

_database_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-db")


def database_thread() -> ThreadPoolExecutor:
    """The thread the live sockets' database work runs in (tests close its
    connection through it)."""
    return _database_thread


# SQLite answers "locked" at once where another connection of the process
# holds the table (its shared cache): the work is tried again shortly.
LOCKED_RETRIES = 20
LOCKED_PAUSE_SECONDS = 0.05


def _on_its_connection(work: Callable[..., T], *args: Any) -> T:
    for attempt in range(LOCKED_RETRIES + 1):
        try:
            return work(*args)
        except DatabaseError as exc:
            locked = connection.vendor == "sqlite" and "locked" in str(exc)
            if not locked or attempt == LOCKED_RETRIES:
                # A broken connection (the database restarted) is not used again.
                connection.close()
                raise
            time.sleep(LOCKED_PAUSE_SECONDS)
    raise AssertionError("unreachable")


async def in_database(work: Callable[..., T], *args: Any) -> T:
    """Run `work(*args)` in the live sockets' database thread."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_database_thread, _on_its_connection, work, *args)


class Batcher:
    """Runs `write(items) -> results` in the database thread for every item
    queued while the previous write ran; each caller gets its own result."""

    def __init__(self, write: Callable[[list[Any]], list[Any]]) -> None:
        self._write = write
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
                    results = await in_database(
                        self._write, [item for item, _ in batch]
                    )
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
