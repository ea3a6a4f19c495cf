"""Running a live run's hooks functions: off the event loop, in a bounded
pool per process, within the run's `remote_call_timeout_s`.

A function gets Mephisto's arguments, `fn(request_id, args, agent_state)`;
`agent_state` stands in for Mephisto's RemoteProcedureAgentState.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from tasks_app.selectors.live import LiveAgent, agent_calls

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RemoteRequest:
    """A call so far, as Mephisto's RemoteRequest (`.to_dict()`)."""

    uuid: str
    target: str
    args_json: str | None
    response_json: str | None
    timestamp: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "uuid": self.uuid,
            "target": self.target,
            "args_json": self.args_json,
            "response_json": self.response_json,
            "timestamp": self.timestamp,
        }


@dataclass
class AgentState:
    """What a function knows of the agent calling it: `init_data` (the unit's
    inputs), `calls` (its calls so far, this one last and unanswered; read on
    first use), `requests` (the same as Mephisto's {uuid: RemoteRequest}),
    `agent_id`, `unit_id` and `worker` (PROVIDER:ID)."""

    agent: LiveAgent
    _calls: list[dict[str, Any]] | None = field(default=None, repr=False)

    @property
    def init_data(self) -> Any:
        return self.agent.init_data

    @property
    def agent_id(self) -> str:
        return self.agent.public_id

    @property
    def unit_id(self) -> int:
        return self.agent.unit_id

    @property
    def worker(self) -> str:
        return self.agent.worker

    @property
    def calls(self) -> list[dict[str, Any]]:
        if self._calls is None:
            self._calls = agent_calls(self.agent.pk)
        return self._calls

    @property
    def requests(self) -> dict[str, RemoteRequest]:
        return {
            call["request_id"]: RemoteRequest(
                uuid=call["request_id"],
                target=call["target"],
                args_json=json.dumps(call["args"]),
                response_json=None
                if call["answered_at"] is None
                else json.dumps(call["response"]),
                timestamp=call["requested_at"],
            )
            for call in self.calls
        }

    def get_init_state(self) -> dict[str, Any]:
        return {
            "task_data": self.init_data,
            "previous_requests": [r.to_dict() for r in self.requests.values()],
        }

    def get_data(self) -> dict[str, Any]:
        return {
            "init_data": self.init_data,
            "requests": [r.to_dict() for r in self.requests.values()],
        }


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def function_pool() -> ThreadPoolExecutor:
    """This process's threads for functions (CROWDSITE_LIVE_FUNCTION_THREADS)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(
                max_workers=settings.CROWDSITE_LIVE_FUNCTION_THREADS,
                thread_name_prefix="live-function",
            )
        return _pool


@dataclass(frozen=True)
class Outcome:
    """A function's answer: `response` (JSON-able) or `error` and its kind."""

    response: Any = None
    error: str = ""
    error_kind: str = ""

    @property
    def body(self) -> Any:
        """What the page receives."""
        if self.error:
            return {"error": self.error, "error_kind": self.error_kind}
        return self.response


def _call(function: Any, request_id: str, args: Any, state: AgentState) -> Any:
    close_old_connections()
    try:
        result = function(request_id, args, state)
        json.dumps(result)  # what can't be sent is refused here, in the thread
        return result
    finally:
        close_old_connections()


async def run_function(
    function: Any, name: str, request_id: str, args: Any, state: AgentState
) -> Outcome:
    """Run `function` in the pool; an exception or a passed time limit becomes
    an error answer (and a log line naming the agent), never a hung page."""
    timeout = state.agent.remote_call_timeout_s
    loop = asyncio.get_running_loop()
    try:
        result = await asyncio.wait_for(
            loop.run_in_executor(
                function_pool(), _call, function, request_id, args, state
            ),
            timeout,
        )
    except TimeoutError:
        logger.warning(
            "live agent %s: %s took longer than %s s", state.agent.pk, name, timeout
        )
        return Outcome(
            error=f"{name} took longer than {timeout:g} s and was given up",
            error_kind="timeout",
        )
    except Exception as exc:
        logger.exception("live agent %s: %s raised", state.agent.pk, name)
        return Outcome(
            error=f"{name} failed: {type(exc).__name__}: {exc}"[:2000],
            error_kind="exception",
        )
    return Outcome(response=result)
