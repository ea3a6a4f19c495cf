"""The live task's socket: one page, one agent.

The page opens it at the site root after its HTTP arrival. The first packet
whose `subject_id` is an agent of a live run binds the socket to that agent;
an id that is no such agent closes the socket, and a packet naming another
agent later is dropped. Calls run only while the agent works; an agent that
stopped (timed out, returned, expired, submitted) is told so with
`update_status` and its calls are dropped.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from tasks_app.hooks import run_function_registry
from tasks_app.live import protocol
from tasks_app.live.batching import batcher, in_database
from tasks_app.live.functions import AgentState, Outcome, run_function
from tasks_app.live.rate import allow_call
from tasks_app.live.status import agent_group
from tasks_app.selectors.live import LiveAgent, agent_stopped, live_agent
from tasks_app.selectors.runs import cached_run
from tasks_app.services.live import (
    CallAnswer,
    CallRequest,
    CallStart,
    keep_calls,
)

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's).
CLOSE_NOT_AN_AGENT = 4403
CLOSE_TOO_BIG = 1009
CLOSE_SERVER_ERROR = 1011
NO_CHANNEL_LAYER = "live socket: the channel layer is unavailable"


def _registry(run_id: int) -> dict[str, Any]:
    run = cached_run(run_id)
    return run_function_registry(run) if run is not None else {}


class LiveTaskConsumer(AsyncWebsocketConsumer):
    agent: LiveAgent | None = None
    registry: dict[str, Any]
    stopped: str | None = None
    group: str | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-message `close_old_connections`
        hop: the socket's database work runs in a thread of its own that
        manages its connection (tasks_app.live.batching)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.registry = {}
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self._leave_group()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        raw = text_data if text_data is not None else bytes_data
        if raw is None:
            return
        limit = settings.CROWDSITE_LIVE_MAX_MESSAGE_BYTES
        size = len(
            raw.encode() if isinstance(raw, str) and len(raw) * 4 > limit else raw
        )
        if size > limit:
            logger.warning("live socket: a %s-byte message closed it", size)
            await self.close(code=CLOSE_TOO_BIG)
            return
        packet = protocol.parse_packet(raw)
        if packet is None:
            return
        if not await self._bound_to(packet.subject_id):
            return
        assert self.agent is not None
        if packet.packet_type == protocol.HEARTBEAT:
            await self.send(protocol.heartbeat(self.agent.public_id))
            await self._check_status()
        elif packet.packet_type == protocol.ALIVE:
            await self._check_status()
        elif packet.packet_type == protocol.CALL:
            await self._call(packet.data)

    async def _bound_to(self, subject_id: str) -> bool:
        """Bind to `subject_id` on the first packet; False to drop the packet."""
        if self.agent is not None:
            if subject_id != self.agent.public_id:
                logger.warning(
                    "live socket of agent %s: a packet for another agent dropped",
                    self.agent.pk,
                )
                return False
            return True
        try:
            agent = await in_database(live_agent, subject_id)
            registry = (
                None if agent is None else await in_database(_registry, agent.run_id)
            )
        except Exception:
            logger.exception("live socket: the agent could not be read")
            await self.close(code=CLOSE_SERVER_ERROR)
            return False
        if agent is None or registry is None:
            # A forged, stale or foreign id: nothing of it runs.
            await self.close(code=CLOSE_NOT_AN_AGENT)
            return False
        self.agent = agent
        self.registry = registry
        if agent.onboarding:
            return True
        self.group = agent_group(agent.pk)
        try:
            await self.channel_layer.group_add(self.group, self.channel_name)
        except Exception:  # pushes are a shortcut: heartbeats still check
            logger.warning(
                "live socket: the channel layer is unavailable", exc_info=True
            )
            self.group = None
        return True

    async def _leave_group(self) -> None:
        try:
            await self.channel_layer.group_discard(self.group, self.channel_name)
        except Exception:
            logger.warning(
                "live socket: the channel layer is unavailable", exc_info=True
            )

    async def _check_status(self) -> None:
        assert self.agent is not None
        try:
            stopped = await in_database(
                agent_stopped, self.agent.pk, self.agent.onboarding
            )
        except Exception:  # checked again at the next heartbeat or call
            logger.warning(
                "live agent %s: status not read", self.agent.pk, exc_info=True
            )
            return
        await self._stopped(stopped)

    async def _stopped(self, status: str | None) -> None:
        if status is None or status == self.stopped:
            return
        self.stopped = status
        if status != "done":
            assert self.agent is not None
            await self.send(protocol.update_status(self.agent.public_id, status))

    async def agent_status(self, event: dict[str, Any]) -> None:
        """A push from `tasks_app.live.status`: the agent stopped elsewhere."""
        await self._stopped(str(event.get("status")))

    async def _call(self, data: dict[str, Any]) -> None:
        assert self.agent is not None
        call = protocol.read_call(data)
        if call is None:
            return
        if self.agent.onboarding:
            await self._check_status()
            if self.stopped is not None:
                return
            body = {
                "error": "remote calls are not available during onboarding",
                "error_kind": "unavailable",
            }
            answer = protocol.answer(
                self.agent.public_id, call.request_id, json.dumps(body)
            )
            await self.send(answer)
            return
        function = self.registry.get(call.target)
        error, kind = call.args_error, "bad_arguments" if call.args_error else ""
        if not error and function is None:
            error, kind = (
                f"no function {call.target!r} on this task "
                f"(it has: {', '.join(sorted(self.registry)) or 'none'})",
                "unknown_function",
            )
        limit = settings.CROWDSITE_LIVE_CALLS_PER_MINUTE
        over_limit = not allow_call(self.agent.pk, limit)
        if over_limit:
            logger.warning(
                "live agent %s: call %r over %s calls a minute",
                self.agent.pk,
                call.target,
                limit,
            )
        request = CallRequest(
            agent_pk=self.agent.pk,
            request_id=call.request_id,
            target=call.target,
            args=call.args,
            error=error,
            error_kind=kind,
            over_limit=over_limit,
        )
        try:
            start: CallStart = await batcher(keep_calls).submit(request)
        except Exception:
            # Nothing was kept and nothing ran: the page may call again.
            logger.exception(
                "live agent %s: the call could not be kept", request.agent_pk
            )
            start = CallStart(
                "answer",
                error="the server could not take this call just now; try again",
                error_kind="server_error",
            )
        if start.action == "drop":
            await self._stopped(start.stopped)
            return
        if start.action == "wait":
            return
        if start.action == "answer":
            outcome = Outcome(start.response, start.error, start.error_kind)
        else:
            outcome = await run_function(
                function,
                call.target,
                call.request_id,
                call.args,
                AgentState(self.agent),
            )
            assert start.call_pk is not None
            kept_answer = CallAnswer(
                call_pk=start.call_pk,
                response=outcome.response,
                error=outcome.error,
                error_kind=outcome.error_kind,
            )
            try:
                await batcher(keep_calls).submit(kept_answer)
            except Exception:
                # The call stays kept without its answer; the page gets it.
                logger.exception(
                    "live agent %s: the answer of call %s could not be kept",
                    request.agent_pk,
                    start.call_pk,
                )
        await self.send(
            protocol.answer(
                self.agent.public_id, call.request_id, json.dumps(outcome.body)
            )
        )
