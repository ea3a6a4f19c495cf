"""Settings come from the environment; the defaults are a working local setup."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
        " 'options': s.DATABASES['default'].get('OPTIONS', {})}))"
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
