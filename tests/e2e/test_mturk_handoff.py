"""The MTurk hand-off in a real browser: only MTurk's own hosts get the form."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tasks_app.models import Agent, AgentStatus, TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.selectors import forget_cached_runs
from tasks_app.services import launch_run
from tests.factories import TaskRunFactory

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "https://www.mturk.com"
LIVE_WORKER_SITE = "https://worker.mturk.com"
SANDBOX = "https://workersandbox.mturk.com"
BROKEN_LINK = "This task's link is broken (turkSubmitTo is not an MTurk address)"

REFUSED = [
    ("mturk_sandbox", "javascript:alert(1)"),
    ("mturk_sandbox", "JaVaScRiPt:alert(document.domain)"),
    ("mturk_sandbox", " javascript:alert(1)"),
    ("mturk_sandbox", "data:text/html,<script>alert(1)</script>"),
    ("mturk_sandbox", "https://evil.example"),
    ("mturk_sandbox", "https://workersandbox.mturk.com.evil.example"),
    ("mturk_sandbox", "https://evil.example/workersandbox.mturk.com"),
    ("mturk_sandbox", "https://user@workersandbox.mturk.com@evil.example"),
    ("mturk_sandbox", "https://user@workersandbox.mturk.com"),
    ("mturk_sandbox", "//evil.example"),
    ("mturk_sandbox", "http://workersandbox.mturk.com"),
    ("mturk_sandbox", "https://workersandbox.mturk.com:8443"),
    ("mturk_sandbox", LIVE),
    ("mturk_sandbox", LIVE_WORKER_SITE),
    ("mturk", "javascript:alert(1)"),
    ("mturk", "https://www.mturk.com.evil.example"),
    ("mturk", "https://evil.example/www.mturk.com"),
    ("mturk", "http://www.mturk.com"),
    ("mturk", "HTTP://WWW.MTURK.COM"),
    ("mturk", SANDBOX),
]
ALLOWED = [
    ("mturk_sandbox", SANDBOX, SANDBOX),
    ("mturk_sandbox", "HTTPS://WorkerSandbox.MTurk.com/", SANDBOX),
    ("mturk", LIVE, LIVE),
    ("mturk", LIVE_WORKER_SITE, LIVE_WORKER_SITE),
    ("mturk", None, LIVE),
    ("mturk_sandbox", None, SANDBOX),
]


@pytest.fixture
def launch_mturk(
    example_config, settings, live_server, django_capture_on_commit_callbacks
):
    settings.SITE_URL = live_server.url

    def launch(provider_type: str) -> TaskRun:
        with django_capture_on_commit_callbacks(execute=True):
            run = launch_run(config=load_run_config(example_config))
        # A real MTurk launch would create HITs; the page needs only the type.
        TaskRun.objects.filter(pk=run.pk).update(provider_type=provider_type)
        forget_cached_runs()
        run.refresh_from_db()
        return run

    return launch


@pytest.fixture
def off_site(page, live_server):
    """Every request the page makes to another origin, answered here, never sent."""
    seen: list[tuple[str, str, str | None]] = []

    def handle(route, request):
        if request.url.startswith(live_server.url):
            route.continue_()
            return
        seen.append((request.method, request.url, request.post_data))
        route.fulfill(status=200, content_type="text/html", body="<p>MTurk</p>")

    page.route("**/*", handle)
    return seen


def work_on_mturk(page, live_server, run: TaskRun, submit_to: str | None) -> None:
    url = (
        f"{live_server.url}/?task_run_id={run.pk}"
        "&workerId=A1W&assignmentId=AS1&hitId=H1"
    )
    if submit_to is not None:
        url += f"&turkSubmitTo={quote(submit_to, safe='')}"
    page.goto(url)
    page.click("#onboarding-good")
    page.click("#rate-good")


def completed_agent() -> Agent:
    return Agent.objects.get(worker__worker_name__startswith="A1W")


@pytest.mark.parametrize(("provider_type", "submit_to"), REFUSED)
def test_a_turk_submit_to_that_is_not_the_runs_mturk_posts_nothing(
    page, screenshot, live_server, launch_mturk, off_site, provider_type, submit_to
):
    run = launch_mturk(provider_type)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    work_on_mturk(page, live_server, run, submit_to)
    notice = page.locator("#crowdsite-notice")
    notice.wait_for(timeout=10_000)
    screenshot("broken-link")

    assert BROKEN_LINK in notice.inner_text()
    assert "Please contact the requester" in notice.inner_text()
    assert page.locator("form").count() == 0
    assert page.url.startswith(f"{live_server.url}/?task_run_id={run.pk}&")
    assert off_site == []
    assert dialogs == []
    assert completed_agent().status == AgentStatus.COMPLETED


@pytest.mark.parametrize(("provider_type", "submit_to", "host"), ALLOWED)
def test_the_runs_mturk_host_gets_the_external_submit_form(
    page, live_server, launch_mturk, off_site, provider_type, submit_to, host
):
    run = launch_mturk(provider_type)

    work_on_mturk(page, live_server, run, submit_to)
    page.wait_for_url(f"{host}/mturk/externalSubmit")

    [(method, url, body)] = off_site
    assert (method, url) == ("POST", f"{host}/mturk/externalSubmit")
    assert "assignmentId=AS1" in body
    assert page.locator("#crowdsite-notice").count() == 0
    assert completed_agent().status == AgentStatus.COMPLETED


def test_the_mturk_page_config_names_only_the_runs_mturk_hosts(client):
    live = TaskRunFactory(units=1, provider_type="mturk")
    sandbox = TaskRunFactory(units=1, provider_type="mturk_sandbox")

    live_config = client.get(f"/?task_run_id={live.pk}").context["page_config"]
    sandbox_config = client.get(f"/?task_run_id={sandbox.pk}").context["page_config"]

    assert live_config["mturk_submit_hosts"] == [LIVE, LIVE_WORKER_SITE]
    assert live_config["mturk_submit_to"] == LIVE
    assert sandbox_config["mturk_submit_hosts"] == [SANDBOX]
    assert sandbox_config["mturk_submit_to"] == SANDBOX
