"""The live-task benchmark's server (benchmarks/live.py): the project's ASGI app,
plus a bare Channels echo consumer at the WebSocket path /echo, its baseline.

    python -m daphne -b 127.0.0.1 -p 8000 benchmarks.live_asgi:application

Both are served by one process, so the two are measured on the same server, event
loop and machine; everything but WebSockets to /echo goes to the project's app.
"""

from channels.generic.websocket import AsyncWebsocketConsumer

# Imported first: it sets DJANGO_SETTINGS_MODULE and sets Django up.
from crowdsite.asgi import application as project_application

ECHO_PATH = "/echo"


class EchoConsumer(AsyncWebsocketConsumer):
    """Send each text frame back unchanged: no origin check, no database."""

    async def receive(self, text_data=None, bytes_data=None):
        if text_data is not None:
            await self.send(text_data=text_data)


echo = EchoConsumer.as_asgi()


async def application(scope, receive, send):
    if scope["type"] == "websocket" and scope["path"] == ECHO_PATH:
        return await echo(scope, receive, send)
    return await project_application(scope, receive, send)
