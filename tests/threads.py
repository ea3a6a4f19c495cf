"""Running test actions at once, each in its own thread and database connection."""

from __future__ import annotations

import threading

from django.db import connection


def race(actions) -> list[object]:
    """Run each action in its own thread and connection, all at once; what each
    returned or raised, in order."""
    barrier = threading.Barrier(len(actions), timeout=30)
    outcomes: list[object] = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait()
            outcomes[index] = action()
        except Exception as exc:
            outcomes[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes
