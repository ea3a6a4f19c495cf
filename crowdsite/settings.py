"""crowdsite settings: everything comes from the environment (see .env.example).

The defaults give a working local setup: SQLite in the project folder, no broker
(Celery tasks run in-process), DEBUG on. Production differs only by environment.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is read when present; the real environment always wins.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

# A development key is fine only while DEBUG is on; production must set its own.
SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-local-development-only"

# Where this server is reachable by the requester (admin) and, with the local
# architect, by workers.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# The public HTTPS address workers reach; required by the `server` architect.
PUBLIC_URL = env.str("PUBLIC_URL", default="").rstrip("/")

# Prolific's API token (MTurk uses the standard AWS credential chain), and the
# API's base URL (a stand-in Prolific for tests and staging).
PROLIFIC_API_KEY = env.str("PROLIFIC_API_KEY", default="")
# How many MTurk requests per second one process sends at most (a burst of
# twice as many is let through at once); 0 sends without pacing. MTurk
# throttles an account that calls too fast: with several Celery workers, share
# the rate between them.
MTURK_MAX_REQUESTS_PER_SECOND = env.float("MTURK_MAX_REQUESTS_PER_SECOND", default=10.0)
PROLIFIC_API_URL = (
    env.str("PROLIFIC_API_URL", default="https://api.prolific.com/api/v1/").rstrip("/")
    + "/"
)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# HTTPS. With DEBUG off everything defaults to HTTPS only (what
# `check --deploy` asks for); each setting can be overridden by its own
# variable. Local use (DEBUG on) stays plain HTTP.
# Behind a proxy that terminates TLS, e.g. "HTTP_X_FORWARDED_PROTO,https":
# without it every request looks like plain HTTP and the redirect loops. Only
# safe when the proxy overwrites the header (docs/deploy.md).
SECURE_PROXY_SSL_HEADER = env.tuple("SECURE_PROXY_SSL_HEADER", default=()) or None
if SECURE_PROXY_SSL_HEADER is not None and len(SECURE_PROXY_SSL_HEADER) != 2:
    raise ImproperlyConfigured(
        "SECURE_PROXY_SSL_HEADER must be a header and a value, "
        "e.g. HTTP_X_FORWARDED_PROTO,https"
    )
# Turn off only where the proxy already redirects HTTP to HTTPS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# Browsers refuse plain HTTP to this host for this long once they have seen
# it; a first deployment may start with a few minutes (docs/deploy.md).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
# Joining the browsers' preload list is the domain owner's decision and takes
# months to undo, so it is never a default; check --deploy's reminder of it
# (W021) is silenced while it is off.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = env.bool("SECURE_CONTENT_TYPE_NOSNIFF", default=True)
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
# Checks a deployment has decided against, e.g. security.W008 where the proxy
# redirects to HTTPS itself (comma-separated).
SILENCED_SYSTEM_CHECKS = env.list("SILENCED_SYSTEM_CHECKS", default=[])
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS.append("security.W021")

INSTALLED_APPS = [
    # First, so that `runserver` is daphne's: HTTP and the live tasks' WebSocket.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    # The requester API (/api/v1/, docs/api.md): token authentication, its
    # OpenAPI schema, and Swagger UI's files served from this site.
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "tasks_app",
    "qualifications_app",
    "providers",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's CSS and JS) from STATIC_ROOT, without a web
    # server; before the rest so they skip sessions and CSRF.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Without a broker, beat's schedule runs here (see tasks_app/in_process_beat).
    "tasks_app.in_process_beat.InProcessBeatMiddleware",
]

ROOT_URLCONF = "crowdsite.urls"
WSGI_APPLICATION = "crowdsite.wsgi.application"
ASGI_APPLICATION = "crowdsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"].setdefault("ATOMIC_REQUESTS", False)
# Reuse connections across requests (a new PostgreSQL connection costs ~10 ms);
# `?conn_max_age=N` in DATABASE_URL or CONN_MAX_AGE override it.
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # The worker API's hot statements run through tasks_app.db.prepared_cursor:
    # PostgreSQL keeps them prepared from the second run on each connection (no
    # parsing and planning per request). Django's own cursors bind parameters
    # client-side and are never prepared. Set DATABASE_PREPARED_STATEMENTS=false
    # behind a transaction-mode PgBouncer that can't keep prepared statements.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 2)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    sqlite_options = DATABASES["default"].setdefault("OPTIONS", {})
    # Writers wait for the lock instead of failing at once (demo server + worker).
    sqlite_options.setdefault("timeout", 20)
    # WAL lets readers run beside the one writer; NORMAL is WAL's safe sync level.
    sqlite_options.setdefault(
        "init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
    )
    # A transaction that reads and then writes can't wait for the write lock
    # (SQLite refuses the upgrade at once, whatever the timeout); taking the
    # lock at BEGIN makes concurrent writers queue on the timeout instead.
    sqlite_options.setdefault("transaction_mode", "IMMEDIATE")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# `manage.py collectstatic` fills it; WhiteNoise serves it.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    # With DEBUG off, hashed file names that browsers may cache forever. They
    # exist only after collectstatic: a page using {% static %} fails without
    # it, so production runs collectstatic on every deploy (docs/deploy.md).
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
# As the environment says, not as the test runner forces: with DEBUG on (also
# under pytest) WhiteNoise finds files in the apps' folders as they change; in
# production it indexes STATIC_ROOT once, at start.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_URL = "media/"
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

# The worker wire protocol's limits. A submission's JSON, and each uploaded file.
CROWDSITE_MAX_SUBMISSION_BYTES = env.int(
    "CROWDSITE_MAX_SUBMISSION_BYTES", default=1_000_000
)
# Uploads are off unless a run's config turns them on (mephisto.blueprint.uploads);
# these are the site's ceilings, and the defaults of a run that sets no limit.
CROWDSITE_MAX_UPLOAD_BYTES = env.int("CROWDSITE_MAX_UPLOAD_BYTES", default=20_000_000)
CROWDSITE_MAX_UPLOAD_FILES = env.int("CROWDSITE_MAX_UPLOAD_FILES", default=10)
CROWDSITE_MAX_UPLOAD_BYTES_PER_AGENT = env.int(
    "CROWDSITE_MAX_UPLOAD_BYTES_PER_AGENT", default=50_000_000
)
# What one agent may keep besides its submission: the page's metadata and its
# error reports together (as JSON), and how many error reports.
CROWDSITE_MAX_AGENT_METADATA_BYTES = env.int(
    "CROWDSITE_MAX_AGENT_METADATA_BYTES", default=1_000_000
)
CROWDSITE_MAX_ERROR_REPORTS = env.int("CROWDSITE_MAX_ERROR_REPORTS", default=50)
CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS = env.list(
    "CROWDSITE_ALLOWED_UPLOAD_EXTENSIONS",
    default=[
        "png",
        "jpg",
        "jpeg",
        "gif",
        "webp",
        "wav",
        "mp3",
        "ogg",
        "webm",
        "mp4",
        "pdf",
        "txt",
        "csv",
        "json",
    ],
)
# The one-statement arrival (PostgreSQL) beside the general one under the worker's
# lock; off, every arrival takes the general path. benchmarks/assign.py measured it
# at 1.22x the throughput at 64 clients.
CROWDSITE_ONE_STATEMENT_ARRIVAL = env.bool(
    "CROWDSITE_ONE_STATEMENT_ARRIVAL", default=True
)
# Live tasks (the remote_procedure blueprint, docs/live-tasks.md): the largest
# WebSocket message a page may send (a bigger one closes its socket), the calls
# one agent may make per minute (more are answered with a `rate_limited` error),
# and the threads per process that run the hooks' functions (a slow function
# holds one thread; the socket loop and other workers' calls go on).
CROWDSITE_LIVE_MAX_MESSAGE_BYTES = env.int(
    "CROWDSITE_LIVE_MAX_MESSAGE_BYTES", default=512_000
)
CROWDSITE_LIVE_CALLS_PER_MINUTE = env.int(
    "CROWDSITE_LIVE_CALLS_PER_MINUTE", default=120
)
CROWDSITE_LIVE_FUNCTION_THREADS = env.int("CROWDSITE_LIVE_FUNCTION_THREADS", default=8)
# Uploads stream to disk past this size instead of being held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
DATA_UPLOAD_MAX_MEMORY_SIZE = CROWDSITE_MAX_SUBMISSION_BYTES * 3
# Only the task page may be framed (by the provider); everything else refuses.
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
# The requester API's OpenAPI schema (/api/v1/schema/): its endpoints only,
# not the worker protocol's.
SPECTACULAR_SETTINGS = {
    "TITLE": "crowdsite requester API",
    "DESCRIPTION": (
        "Runs, submissions, review decisions, bonuses, results, qualifications "
        "and workers, as the admin has them (docs/api.md). Authenticate with "
        "`Authorization: Token KEY` (manage.py drf_create_token USER)."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["tasks_app.requester_api.schema.only_requester_api"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tasks_app.requester_api.schema.document_common_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery. With no broker, tasks run in-process (eagerly) so the demo and a
# laptop need no services; with Redis or RabbitMQ they run on real workers.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
# Live tasks push an agent's new status (timed out, returned, expired) to its
# socket through a channel layer. Across processes that needs Redis: the
# broker's when it is Redis, or CHANNEL_LAYER_URL. Without one, pushes reach
# sockets of the same process and every socket also checks at each heartbeat.
CHANNEL_LAYER_URL = env.str(
    "CHANNEL_LAYER_URL",
    default=CELERY_BROKER_URL
    if CELERY_BROKER_URL.startswith(("redis://", "rediss://"))
    else "",
)
CHANNEL_LAYERS = {
    "default": (
        {
            "BACKEND": "tasks_app.live.layer.LiveRedisChannelLayer",
            # A socket waits for pushes with BZPOPMIN of 5 s (channels-redis);
            # redis-py's own read timeout (5 s by default since redis-py 8)
            # must stay above it, or every quiet wait ends in a read error.
            "CONFIG": {"hosts": [{"address": CHANNEL_LAYER_URL, "socket_timeout": 30}]},
        }
        if CHANNEL_LAYER_URL
        else {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    )
}
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
if CELERY_TASK_ALWAYS_EAGER:
    # Eager tasks never reach a broker; name an in-memory one so none is sought.
    CELERY_BROKER_URL = "memory://"
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="") or None
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A broker that is down must fail a publish in seconds, not hang a web request:
# what must not be lost goes through the outbox (providers.OutboxMessage) first.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float(
    "CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0
)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.5,
    "interval_max": 0.5,
}
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis: a task whose worker died unacknowledged (acks_late) is delivered
    # again after this many seconds. Every task is safe to run twice, so keep it
    # short, but above the longest task, or a slow one is delivered again while
    # it still runs (harmless, wasted work).
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=300),
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
}
# A run still `launching` this long after it was created lost its launch (the
# broker was down at commit, or its worker died): beat launches it again.
LAUNCH_STUCK_AFTER_SECONDS = env.int("LAUNCH_STUCK_AFTER_SECONDS", default=120)
# `celery -A crowdsite beat` runs these; claims also expire overdue agents of
# their run, so a missing beat delays the sweep but never loses a unit.
CELERY_BEAT_SCHEDULE = {
    "expire-overdue-agents": {
        "task": "tasks_app.tasks.expire_overdue_agents",
        "schedule": 30.0,
    },
    # Units past max_num_concurrent_units go out as earlier ones finish.
    "top-up-runs": {"task": "tasks_app.tasks.top_up_runs", "schedule": 30.0},
    # Tasks written to the outbox while the broker was down.
    "send-outbox": {"task": "providers.tasks.send_outbox", "schedule": 15.0},
    "finish-stuck-launches": {
        "task": "tasks_app.tasks.finish_stuck_launches",
        "schedule": 60.0,
    },
    # Runs past no_submission_patience or task_lifetime_in_seconds are shut
    # down; runs whose units are all final are completed.
    "end-runs": {"task": "tasks_app.tasks.end_runs", "schedule": 60.0},
    # Units not reviewed within mephisto.task.auto_approve_delay_in_seconds.
    "auto-approve-units": {
        "task": "tasks_app.tasks.auto_approve_units",
        "schedule": 300.0,
    },
    # Decisions and bonuses whose provider call never finished (a lost message,
    # a killed worker), and lost Prolific bonus payments, from its records.
    "resend-stalled-reviews": {
        "task": "tasks_app.tasks.resend_stalled_reviews",
        "schedule": 300.0,
    },
    "reconcile-lost-bonuses": {
        "task": "tasks_app.tasks.reconcile_lost_bonuses",
        "schedule": 600.0,
    },
    # Submissions MTurk lists that the task page failed to report.
    "recover-submissions": {
        "task": "tasks_app.tasks.recover_submissions",
        "schedule": 300.0,
    },
}

# With no broker there is no beat: the web process does its work, a run's share at
# each submit or return (the top-up, the completion) and the schedule between
# requests (tasks_app/in_process_beat.py). Off: nothing does it.
IN_PROCESS_BEAT = env.bool("IN_PROCESS_BEAT", default=True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
    # The in-memory broker has no hostname, which kombu warns about on every task.
    "loggers": {"kombu.connection": {"level": "ERROR"}},
}
