"""A worker's task page in a real browser: onboarding, submit, refusals, framing."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.e2e.conftest import ARTIFACTS
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def run(example_config, settings, live_server, django_capture_on_commit_callbacks):
    settings.SITE_URL = live_server.url
    with django_capture_on_commit_callbacks(execute=True):
        return launch_run(config=load_run_config(example_config))


def test_a_worker_passes_onboarding_and_submits_their_answer(
    page, screenshot, live_server, run
):
    page.goto(task_url(live_server, run, "wendy"))
    page.locator("#onboarding-good").wait_for()
    screenshot("onboarding")
    page.click("#onboarding-good")

    sentence = page.locator("#sentence")
    sentence.wait_for()
    shown = sentence.inner_text()
    screenshot("task")
    page.click("#rate-bad")
    page.locator("#crowdsite-thanks").wait_for()
    screenshot("thanks")

    agent = Agent.objects.get(worker__worker_name="wendy")
    assert agent.status == AgentStatus.COMPLETED
    assert agent.submission == {"rating": "bad"}
    assert agent.unit.status == UnitStatus.COMPLETED
    assert agent.unit.assignment.data["text"] == shown


def test_a_worker_who_fails_onboarding_sees_why(page, screenshot, live_server, run):
    page.goto(task_url(live_server, run, "oscar"))
    page.click("#onboarding-bad")

    reason = page.locator("#blocked-reason")
    reason.wait_for()
    screenshot("refused")

    assert "did not pass the onboarding" in reason.inner_text()
    assert not Unit.objects.filter(worker__worker_name="oscar").exists()


def test_the_preview_shows_the_task_without_a_submit(
    page, screenshot, live_server, run
):
    page.goto(task_url(live_server, run, None))
    page.get_by_text("Preview").first.wait_for()
    screenshot("preview")

    assert page.locator("button").count() == 0
    assert not Agent.objects.exists()


def test_a_worker_over_the_limit_sees_the_reason(page, screenshot, live_server, run):
    limit = run.maximum_units_per_worker
    for number in range(limit):
        page.goto(task_url(live_server, run, "lena", f"a{number}"))
        if number == 0:
            page.click("#onboarding-good")
        page.click("#rate-good")
        page.locator("#crowdsite-thanks").wait_for()

    page.goto(task_url(live_server, run, "lena", "one-more"))
    reason = page.locator("#blocked-reason")
    reason.wait_for()
    screenshot("over-limit")

    assert f"maximum of {limit} units" in reason.inner_text()
    assert Unit.objects.filter(worker__worker_name="lena").count() == limit


class FramingPage(BaseHTTPRequestHandler):
    """Another origin that frames a URL given as the path, as MTurk frames tasks."""

    def do_GET(self) -> None:
        target = self.path.lstrip("/")
        body = f'<html><body><iframe id="f" src="{target}" width="900" height="600">'
        body += "</iframe></body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format, *args) -> None:
        return None


@pytest.fixture
def other_origin():
    server = HTTPServer(("127.0.0.1", 0), FramingPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_the_task_page_loads_in_a_frame_of_another_origin(
    page, screenshot, live_server, run, other_origin
):
    # live_server listens on localhost; the framing page is on 127.0.0.1.
    page.goto(f"{other_origin}/{task_url(live_server, run, 'fran')}")
    frame = page.frame_locator("#f")
    frame.locator("#onboarding-good").wait_for()
    screenshot("framed-task")

    assert frame.locator("#onboarding-good").is_visible()


def test_admin_pages_refuse_to_be_framed(page, screenshot, live_server, other_origin):
    responses = []
    page.on("response", lambda response: responses.append(response))
    page.goto(f"{other_origin}/{live_server.url}/admin/login/")
    page.wait_for_load_state("networkidle")
    screenshot("framed-admin")

    admin = [r for r in responses if "/admin/login/" in r.url and r.url != page.url]
    assert admin and admin[0].headers.get("x-frame-options") == "DENY"
    frame = page.frame_locator("#f")
    assert frame.locator("input[name=username]").count() == 0


def test_block_mobile_turns_phones_away_with_mephistos_message(
    browser, live_server, settings, example_config, django_capture_on_commit_callbacks
):
    settings.SITE_URL = live_server.url
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(
            config=load_run_config(
                example_config, ["mephisto.blueprint.block_mobile=true"]
            )
        )
    phone = browser.new_context(
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) "
        "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148",
        viewport={"width": 390, "height": 844},
    )
    page = phone.new_page()
    page.goto(task_url(live_server, run, "pat"))

    page.get_by_text("cannot be completed on mobile devices").wait_for()
    page.screenshot(path=str(ARTIFACTS / "block-mobile-phone.png"), full_page=True)
    phone.close()

    assert not Agent.objects.exists()
