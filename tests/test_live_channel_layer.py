"""The live sockets' channel layer: a Redis hiccup doesn't end a socket, and a
status is pushed from any thread, an event loop's included (the push itself,
through Redis, is tests/test_live_socket_security.py's)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from redis.exceptions import TimeoutError as RedisTimeoutError

from tasks_app.live import layer, status
from tasks_app.models import AgentStatus


def run_apart(coroutine):
    """asyncio.run in a thread of its own: this thread may already run a loop
    (the browser tests' Playwright leaves one)."""
    result = {}

    def run() -> None:
        result["value"] = asyncio.run(coroutine)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(30)
    return result["value"]


def test_a_failed_read_from_redis_is_tried_again(monkeypatch):
    calls = []

    async def flaky(self, channel):
        calls.append(channel)
        if len(calls) == 1:
            raise RedisTimeoutError("Timeout reading from 127.0.0.1:6379")
        return {"type": "agent.status", "status": "timeout"}

    monkeypatch.setattr(layer.RedisChannelLayer, "receive", flaky)
    monkeypatch.setattr(layer, "RETRY_SECONDS", 0)
    live_layer = layer.LiveRedisChannelLayer(hosts=["redis://127.0.0.1:6379/9"])
    message = run_apart(live_layer.receive("specific.channel"))
    assert message == {"type": "agent.status", "status": "timeout"}
    assert calls == ["specific.channel", "specific.channel"]


def test_a_status_pushed_from_a_thread_running_an_event_loop_goes_by_another(
    settings, monkeypatch
):
    """async_to_sync (and the ORM) can't run in a thread whose event loop runs,
    as in a test driving a browser or an async server's own thread."""
    settings.CHANNEL_LAYER_URL = "redis://127.0.0.1:6379/1"
    pushed: list[tuple[int, str, bool, bool]] = []
    done = threading.Event()

    def record(agent_pk, mephisto_status, own_thread):
        pushed.append((agent_pk, mephisto_status, own_thread, in_loop_thread()))
        done.set()

    def in_loop_thread() -> bool:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        return True

    monkeypatch.setattr(status, "_push", record)

    async def push_in_loop() -> None:
        status.push_agent_status(7, AgentStatus.TIMEOUT)

    run_apart(push_in_loop())
    assert done.wait(5)
    assert pushed == [(7, "timeout", True, False)]
    # From a thread without a loop (a Celery worker's, a sync request's), at once.
    plain = threading.Thread(
        target=status.push_agent_status, args=(8, AgentStatus.RETURNED)
    )
    plain.start()
    plain.join(5)
    assert pushed[-1] == (8, "returned", False, False)


def test_nothing_is_pushed_without_a_redis_channel_layer(settings, monkeypatch):
    settings.CHANNEL_LAYER_URL = ""
    monkeypatch.setattr(status, "_push", lambda *args: pytest.fail("pushed"))
    status.push_agent_status(7, AgentStatus.TIMEOUT)
