"""The project's ASGI application (HTTP and the live tasks' WebSocket) served
by uvicorn in a thread of the test process, on a free port of 127.0.0.1.

pytest-django's `live_server` is WSGI and has no WebSocket. This server shares
the test database as `live_server` does: SQLite's test database is in memory
with a shared cache, so the server's connections see what tests commit.
"""

from __future__ import annotations

import socket
import threading
import time


class AsgiLiveServer:
    def __init__(self) -> None:
        import uvicorn

        from crowdsite.asgi import application

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}/"
        config = uvicorn.Config(
            application,
            lifespan="off",
            log_level="warning",
            ws="websockets-sansio",
            ws_ping_interval=None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self) -> AsgiLiveServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test's ASGI server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        from asgiref.sync import SyncToAsync
        from django.db import connections

        from tasks_app.live.batching import database_thread
        from tasks_app.live.functions import function_pool

        self.server.should_exit = True
        self.thread.join(timeout=5)
        if self.thread.is_alive():
            # A socket a test left open: closed at once.
            self.server.force_exit = True
            self.thread.join(timeout=10)
        self.sock.close()
        # The server's database work ran in asgiref's one thread and the
        # functions' pool: their connections close, so the test database can
        # be emptied and dropped.
        SyncToAsync.single_thread_executor.submit(connections.close_all).result()
        database_thread().submit(connections.close_all).result()
        pool = function_pool()
        for _ in range(pool._max_workers):
            pool.submit(connections.close_all).result()
