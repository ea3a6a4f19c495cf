"""Telling a live agent's socket that the agent stopped elsewhere (the timeout
sweep, a return, an expiry), through the channel layer.

Only a Redis channel layer reaches sockets in other processes, so without one
nothing is pushed; every socket also checks its agent at each heartbeat (6 s).
"""

from __future__ import annotations

import asyncio
import logging
import threading

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection

from tasks_app.models import Agent
from tasks_app.selectors.live import LIVE_BLUEPRINT, MEPHISTO_STATUS

logger = logging.getLogger(__name__)


def agent_group(agent_pk: int) -> str:
    return f"live-agent-{agent_pk}"


def push_agent_status(agent_pk: int, status: str) -> None:
    """Send `status` (an AgentStatus) to agent `agent_pk`'s sockets, if it is
    an agent of a live run and there is a Redis channel layer."""
    mephisto_status = MEPHISTO_STATUS.get(status)  # type: ignore[call-overload]
    if mephisto_status is None or not settings.CHANNEL_LAYER_URL:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _push(agent_pk, mephisto_status, own_thread=False)
        return
    # Neither the ORM nor async_to_sync runs in a thread whose event loop runs.
    threading.Thread(
        target=_push, args=(agent_pk, mephisto_status, True), daemon=True
    ).start()


def _push(agent_pk: int, mephisto_status: str, own_thread: bool) -> None:
    try:
        live = Agent.objects.filter(pk=agent_pk, run__blueprint_type=LIVE_BLUEPRINT)
        layer = get_channel_layer()
        if layer is None or not live.exists():
            return
        async_to_sync(layer.group_send)(
            agent_group(agent_pk), {"type": "agent.status", "status": mephisto_status}
        )
    except Exception:  # the socket learns it at its next heartbeat
        logger.warning("could not push agent %s's status", agent_pk, exc_info=True)
    finally:
        if own_thread:
            connection.close()
