import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crowdsite.settings")

from crowdsite.middleware import refuse_unreadable_charset  # noqa: E402

application = refuse_unreadable_charset(get_wsgi_application())
