"""The channel layer of live sockets across processes: channels-redis, with a
socket's wait for pushes kept alive through Redis hiccups.

Channels ends a consumer whose channel-layer read fails, which would close a
worker's socket because Redis was slow for a moment. Here a failed read is
logged and tried again a second later: pushes are a shortcut (heartbeats check
the agent too), the socket is not.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0


class LiveRedisChannelLayer(RedisChannelLayer):
    async def receive(self, channel: str) -> Any:
        while True:
            try:
                return await super().receive(channel)
            except (RedisConnectionError, RedisTimeoutError, OSError):
                logger.warning("live socket: waiting for Redis again", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
