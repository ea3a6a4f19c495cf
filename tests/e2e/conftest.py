"""Browser tests: Playwright driving Debian's Chromium against a live server.

Screenshots of each screen land in tests/e2e/artifacts/ (git-ignored) for CI.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tasks_app.models import TaskRun
from tests.command_calls import run_json
from tests.conftest import need

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")

# mephisto-task@2.0.4 as published on npm was built before its version bump: its
# bundle reports libVersion "2.0.3" and so warns against a server that (rightly)
# says 2.0.4. The warning is harmless; any other one is not.
KNOWN_PACKAGE_WARNING = (
    "Version mismatch detected! Local `mephisto-task` package is on version 2.0.3 "
    "but the server expected version 2.0.4."
)

# Playwright's sync API runs an event loop in the test thread; the ORM calls the
# tests make around it are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser():
    need(
        shutil.which(CHROMIUM) is not None or Path(CHROMIUM).exists(),
        f"needs Chromium at {CHROMIUM} (apt-get install -y chromium)",
    )
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "needs the playwright package (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1000, "height": 700})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(page, request):
    """Save a screenshot named after the test and the screen."""
    ARTIFACTS.mkdir(exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = ARTIFACTS / f"{request.node.name}-{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return take


@pytest.fixture
def traffic(page):
    """What the page asked the server, and its errors and warnings: a step that
    hangs says why (which request, which status, which console message)."""
    seen = {"responses": [], "console": []}

    def on_response(response) -> None:
        if not response.url.endswith("/favicon.ico"):
            seen["responses"].append(
                (response.request.method, response.url, response.status)
            )

    def on_console(message) -> None:
        # A missing favicon is the browser's business, not the app's.
        if message.type not in ("error", "warning"):
            return
        if "favicon" in (message.location.get("url") or ""):
            return
        if not message.text.startswith(KNOWN_PACKAGE_WARNING):
            seen["console"].append(f"{message.type}: {message.text}")

    page.on("response", on_response)
    page.on("console", on_console)
    page.on("pageerror", lambda exc: seen["console"].append(f"pageerror: {exc}"))
    return seen


@pytest.fixture
def launch_config(settings, live_server):
    """Launch a config as a requester does, `launch_run --config PATH [overrides]`,
    on the live server; return the run."""
    settings.SITE_URL = live_server.url

    def launch(config: Path, *overrides: str) -> TaskRun:
        launched = run_json("launch_run", "--config", str(config), *overrides)
        return TaskRun.objects.get(pk=launched["task_run_id"])

    return launch
