"""A fake provider account shared by processes through a file (the test and the
Celery workers it starts), for the whole-flow tests."""

from __future__ import annotations

import fcntl
import itertools
import os
import pickle
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar

# How long a request asked to hang waits: longer than any test lets it.
HANG_SECONDS = 600

F = TypeVar("F")


class SharedAccount(Generic[F]):
    """A fake account (`new_fake()`, with its pending hangs) kept in the file
    `path`. Every use loads it, acts and saves it back while holding an exclusive
    lock, so each process sees the others' changes, in order. A process killed
    while it holds the lock loses it with its file descriptor."""

    def __init__(
        self, path: Path, *, new_fake: Callable[[], F], new_hangs: Callable[[], Any]
    ) -> None:
        self.path = Path(path)
        self._lock_path = self.path.with_name(f"{self.path.name}.lock")
        with self._locked():
            if not self.path.exists():
                self._save(new_fake(), hangs=new_hangs())

    @staticmethod
    def hang_here(marker: str | Path) -> None:
        """Say (in the file `marker`) that this process is inside the call, and
        hang there, outside the lock, for the test to kill it."""
        Path(marker).write_text(str(os.getpid()))
        time.sleep(HANG_SECONDS)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self._lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def _state(self) -> Iterator[tuple[F, Any]]:
        """The account and the pending hangs, saved back on the way out (an
        exception included: a dropped answer is still a request the provider
        did)."""
        with self._locked():
            saved = pickle.loads(self.path.read_bytes())
            fake = saved["fake"]
            fake._ids = itertools.count(saved["next_id"])
            try:
                yield fake, saved["hangs"]
            finally:
                self._save(fake, hangs=saved["hangs"])

    def _save(self, fake: Any, *, hangs: Any) -> None:
        # The id counter is kept as its next value: itertools.count objects
        # can't be pickled from Python 3.14 on.
        next_id = next(fake._ids)
        fake._ids = None
        data = pickle.dumps({"fake": fake, "next_id": next_id, "hangs": hangs})
        fake._ids = itertools.count(next_id)
        # Written aside and renamed: a process killed mid-write leaves the old
        # state whole.
        partial = self.path.with_name(f"{self.path.name}.{os.getpid()}")
        partial.write_bytes(data)
        os.replace(partial, self.path)
