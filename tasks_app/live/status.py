"""Telling a live agent's socket that the agent stopped elsewhere (the timeout
sweep, a return, an expiry), through the channel layer.

Only a Redis channel layer reaches sockets in other processes, so without one
nothing is pushed; every socket also checks its agent at each heartbeat (6 s).
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from tasks_app.selectors.live import MEPHISTO_STATUS

logger = logging.getLogger(__name__)


def agent_group(agent_pk: int) -> str:
    return f"live-agent-{agent_pk}"


def push_agent_status(agent_pk: int, status: str) -> None:
    """Send `status` (an AgentStatus) to agent `agent_pk`'s sockets, if any."""
    mephisto_status = MEPHISTO_STATUS.get(status)  # type: ignore[call-overload]
    if mephisto_status is None or not settings.CHANNEL_LAYER_URL:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            agent_group(agent_pk), {"type": "agent.status", "status": mephisto_status}
        )
    except Exception:  # the socket learns it at its next heartbeat
        logger.warning("could not push agent %s's status", agent_pk, exc_info=True)
