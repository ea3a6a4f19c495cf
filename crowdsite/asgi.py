"""The ASGI application: Django's HTTP views and the live tasks' WebSocket
(docs/live-tasks.md). Served by `runserver` (daphne) locally and by daphne or
uvicorn in production (docs/deploy.md)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdsite.settings")

# Django is set up before the consumers' models are imported.
django_application = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from crowdsite.middleware import refuse_unreadable_charset_asgi  # noqa: E402
from tasks_app.live.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": refuse_unreadable_charset_asgi(django_application),
        # The page is served by this site, so its socket's Origin is one of
        # ALLOWED_HOSTS, as for the task page itself.
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
