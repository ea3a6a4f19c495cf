"""The live task's WebSocket is at the site root, as `mephisto-task` opens it
(`ws(s)://host:port/`, no path)."""

from django.urls import re_path

from tasks_app.live.consumer import LiveTaskConsumer

websocket_urlpatterns = [re_path(r"^$", LiveTaskConsumer.as_asgi())]
