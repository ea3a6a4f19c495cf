"""Settings come from the environment; the defaults are a working local setup."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client

from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import EXAMPLE_CONF
from tests.servers import server_env

PROJECT_DIR = Path(__file__).resolve().parent.parent
KEYS = (
    "DEBUG",
    "SECRET_KEY",
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "SITE_URL",
    "PUBLIC_URL",
    "ALLOWED_HOSTS",
    "DATABASE_PREPARED_STATEMENTS",
    "SECURE_PROXY_SSL_HEADER",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SECURE_CONTENT_TYPE_NOSNIFF",
    "SECURE_REFERRER_POLICY",
    "SILENCED_SYSTEM_CHECKS",
)


def load_settings(tmp_path, **env: str) -> dict:
    """Import crowdsite.settings in a fresh interpreter with exactly `env` set."""
    script = (
        "import json, crowdsite.settings as s;"
        "print(json.dumps({'debug': s.DEBUG, 'secret': s.SECRET_KEY,"
        " 'engine': s.DATABASES['default']['ENGINE'],"
        " 'name': str(s.DATABASES['default']['NAME']),"
        " 'broker': s.CELERY_BROKER_URL, 'eager': s.CELERY_TASK_ALWAYS_EAGER,"
        " 'site': s.SITE_URL, 'public': s.PUBLIC_URL, 'hosts': s.ALLOWED_HOSTS,"
        " 'options': s.DATABASES['default'].get('OPTIONS', {}),"
        " 'ssl_redirect': s.SECURE_SSL_REDIRECT,"
        " 'proxy_header': s.SECURE_PROXY_SSL_HEADER,"
        " 'secure_cookies': [s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE],"
        " 'hsts': [s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS,"
        " s.SECURE_HSTS_PRELOAD]}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in KEYS}
    # Run from an empty folder so that a developer's own .env can't leak in.
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**clean, **env, "PYTHONPATH": str(PROJECT_DIR)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode:
        raise RuntimeError(result.stderr)
    return json.loads(result.stdout)


@pytest.fixture(autouse=True)
def no_dotenv(monkeypatch):
    if (PROJECT_DIR / ".env").exists():
        pytest.skip("a local .env file would override the defaults under test")


def test_defaults_give_sqlite_in_the_project_and_in_process_tasks(tmp_path):
    loaded = load_settings(tmp_path)

    assert loaded["debug"] is True
    assert loaded["engine"] == "django.db.backends.sqlite3"
    assert loaded["name"] == str(PROJECT_DIR / "db.sqlite3")
    assert loaded["eager"] is True
    assert loaded["site"] == "http://127.0.0.1:8000"
    assert loaded["public"] == ""
    assert "127.0.0.1" in loaded["hosts"]


def test_environment_configures_database_broker_and_urls(tmp_path):
    loaded = load_settings(
        tmp_path,
        DATABASE_URL="postgres://crowd@db.internal:5432/crowdsite",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        SITE_URL="https://admin.example.org/",
        PUBLIC_URL="https://tasks.example.org",
        ALLOWED_HOSTS="tasks.example.org,admin.example.org",
        SECRET_KEY="s" * 50,
    )

    assert loaded["engine"] == "django.db.backends.postgresql"
    assert loaded["name"] == "crowdsite"
    assert loaded["broker"] == "redis://127.0.0.1:6379/0"
    assert loaded["eager"] is False
    assert loaded["site"] == "https://admin.example.org"
    assert loaded["public"] == "https://tasks.example.org"
    assert loaded["hosts"] == ["tasks.example.org", "admin.example.org"]
    assert loaded["secret"] == "s" * 50


def test_without_debug_a_secret_key_is_required(tmp_path):
    with pytest.raises(RuntimeError, match="SECRET_KEY must be set"):
        load_settings(tmp_path, DEBUG="false")


def test_the_development_secret_key_exists_only_with_debug(tmp_path):
    assert load_settings(tmp_path)["secret"].startswith("django-insecure")
    production = load_settings(tmp_path, DEBUG="false", SECRET_KEY="k" * 50)
    assert production["secret"] == "k" * 50


def test_postgresql_prepares_the_worker_apis_statements_unless_turned_off(tmp_path):
    url = "postgres://postgres@127.0.0.1:5432/crowdsite"

    on = load_settings(tmp_path, DATABASE_URL=url)
    off = load_settings(tmp_path, DATABASE_URL=url, DATABASE_PREPARED_STATEMENTS="0")

    assert on["options"]["prepare_threshold"] == 2
    assert "prepare_threshold" not in off["options"]


def test_sqlite_writes_ahead_and_takes_the_write_lock_when_a_transaction_begins(
    tmp_path,
):
    options = load_settings(tmp_path)["options"]

    assert "PRAGMA journal_mode=WAL" in options["init_command"]
    assert options["transaction_mode"] == "IMMEDIATE"
    assert options["timeout"] == 20


def production_env(**extra: str) -> dict:
    """The environment of a production server, and nothing of the suite's own
    (the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE, which check --deploy refuses)."""
    return server_env(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="tasks.example.org",
        DATABASE_URL="postgres://crowd@db.internal:5432/crowdsite",
        PUBLIC_URL="https://tasks.example.org",
        **extra,
    )


def check_deploy(env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_production_environment_passes_check_deploy_at_warning_level():
    result = check_deploy(production_env())

    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_still_warns_when_production_turns_https_off():
    result = check_deploy(production_env(SECURE_SSL_REDIRECT="false"))

    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_production_defaults_to_https_only_and_each_setting_can_be_overridden(
    tmp_path,
):
    production = load_settings(tmp_path, **production_env())
    behind_proxy = load_settings(
        tmp_path,
        **production_env(
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            SECURE_SSL_REDIRECT="false",
            SECURE_HSTS_SECONDS="300",
        ),
    )

    assert production["ssl_redirect"] is True
    assert production["secure_cookies"] == [True, True]
    assert production["hsts"] == [31_536_000, True, False]
    assert production["proxy_header"] is None
    assert behind_proxy["proxy_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert behind_proxy["ssl_redirect"] is False
    assert behind_proxy["hsts"][0] == 300


def test_with_debug_on_local_use_stays_plain_http(tmp_path):
    local = load_settings(tmp_path)

    assert local["ssl_redirect"] is False
    assert local["secure_cookies"] == [False, False]
    assert local["hsts"][0] == 0


@pytest.fixture
def https_only(settings):
    """The production HTTPS settings, behind a proxy that sets X-Forwarded-Proto."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = True
    settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True


@pytest.mark.django_db
def test_under_https_only_settings_the_framed_task_page_and_worker_api_still_work(
    https_only, django_capture_on_commit_callbacks
):
    config = load_run_config(EXAMPLE_CONF / "local_testing.yaml", [])
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=config)
    # A page framed by MTurk: cross-site, cookie-less, through the proxy.
    client = Client(HTTP_X_FORWARDED_PROTO="https")

    page = client.get(f"/?task_run_id={run.pk}&worker_id=w1&assignment_id=a1")
    arrival = client.post(
        f"/request_agent?task_run_id={run.pk}",
        {
            "provider_data": {
                "worker_name": "w1",
                "agent_registration_id": "r1",
                "assignment_id": "a1",
                "provider_type": "mock",
            },
            "client_timestamp": 0,
        },
        content_type="application/json",
        HTTP_ORIGIN="https://worker.mturk.com",
    )
    plain = Client().get(f"/task/{run.pk}/")

    assert page.status_code == 200
    assert "X-Frame-Options" not in page.headers
    assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    assert arrival.status_code == 200
    assert arrival.json()["data"]["agent_id"]
    assert plain.status_code == 301
    assert plain.headers["Location"].startswith("https://")
