import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdsite.settings")

from crowdsite.middleware import refuse_unreadable_charset_asgi  # noqa: E402

application = refuse_unreadable_charset_asgi(get_asgi_application())
