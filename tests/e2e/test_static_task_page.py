"""A static HTML task in a real browser: onboarding, escaping, submit, the sandbox."""

from __future__ import annotations

import csv

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.test import Client
from playwright.sync_api import expect

from tasks_app.models import Agent, AgentStatus, OnboardingAgent, TaskRun, UnitStatus
from tasks_app.run_config import load_run_config
from tasks_app.services import launch_run
from tests.conftest import PROJECT_DIR
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = PROJECT_DIR / "examples" / "static_html_task"
# A known value for a cookie scripts may read (Django's CSRF cookie is not HttpOnly).
CSRF_TOKEN = "k" * 32

PROBE_TEMPLATE = """<!doctype html>
<html><head><meta charset="utf-8"></head>
<body>
  <h2>What can a template reach?</h2>
  <pre id="cookie">pending</pre>
  <pre id="parent">pending</pre>
  <pre id="storage">pending</pre>
  <pre id="admin">pending</pre>
  <pre id="admin-no-cors">pending</pre>
  <script>
    function show(id, text) { document.getElementById(id).textContent = text; }
    function attempt(id, read) {
      try { show(id, "read: " + read()); } catch (e) { show(id, "blocked: " + e.name); }
    }
    attempt("cookie", function () { return document.cookie; });
    attempt("parent", function () { return window.parent.document.cookie; });
    attempt("storage", function () { return JSON.stringify(localStorage); });
    fetch("/admin/", { credentials: "include" })
      .then(function (r) { return r.text(); })
      .then(function (t) { show("admin", "read: " + t); })
      .catch(function (e) { show("admin", "blocked: " + e.name); });
    fetch("/admin/", { credentials: "include", mode: "no-cors" })
      .then(function (r) { return r.text().then(function (t) {
        show("admin-no-cors", "read: " + r.type + " " + t); }); })
      .catch(function (e) { show("admin-no-cors", "blocked: " + e.name); });
  </script>
</body></html>
"""

# Mephisto's own style of template: fields without a form; the page adds one.
UPLOAD_TEMPLATE = """<p id="prompt">${text}</p>
<input type="file" name="photo" id="photo">
<input name="caption" id="caption">
"""

CONFIG = """#@package _global_
defaults:
  - /mephisto/blueprint: static_task
  - /mephisto/architect: local
  - /mephisto/provider: mock
mephisto:
  blueprint:
    task_source: ${task_dir}/template.html
    data_csv: ${task_dir}/data.csv
    uploads:
      enabled: true
  task:
    task_name: html-probe
    task_title: "Probe"
    task_description: "What can a template reach?"
    task_reward: 0
"""


def special_row() -> dict[str, str]:
    """The example's row full of HTML special characters."""
    with (EXAMPLE / "data.csv").open(newline="", encoding="utf-8") as file:
        return next(row for row in csv.DictReader(file) if "<img" in row["text"])


@pytest.fixture
def launch(settings, live_server, django_capture_on_commit_callbacks):
    settings.SITE_URL = live_server.url

    def _launch(config_path, *overrides: str) -> TaskRun:
        config = load_run_config(config_path, list(overrides))
        with django_capture_on_commit_callbacks(execute=True):
            return launch_run(config=config)

    return _launch


@pytest.fixture
def html_run(launch, tmp_path) -> TaskRun:
    """The example, with only its special-characters row, so a worker gets it."""
    row = special_row()
    data = tmp_path / "data.csv"
    with data.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    return launch(
        EXAMPLE / "conf" / "local_testing.yaml", f"mephisto.blueprint.data_csv={data}"
    )


def template_run(launch, folder, template: str) -> TaskRun:
    """A one-unit static_task run of `template`, without onboarding."""
    (folder / "template.html").write_text(template)
    (folder / "data.csv").write_text("text\nTake a photo of a tree.\n")
    (folder / "run.yaml").write_text(CONFIG)
    return launch(folder / "run.yaml")


@pytest.fixture
def probe_run(launch, tmp_path) -> TaskRun:
    return template_run(launch, tmp_path, PROBE_TEMPLATE)


@pytest.fixture
def staff_session(page, live_server) -> str:
    """Log a staff user into the browser context; return the session id."""
    user = get_user_model().objects.create_user(
        "requester", password="x" * 12, is_staff=True, is_superuser=True
    )
    client = Client()
    client.force_login(user)
    session_id = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": session_id,
                "url": live_server.url,
                "httpOnly": True,
            },
            {"name": "csrftoken", "value": CSRF_TOKEN, "url": live_server.url},
        ]
    )
    return session_id


def test_a_worker_passes_onboarding_sees_the_row_as_text_and_submits(
    page, screenshot, live_server, html_run
):
    row = special_row()
    page.goto(task_url(live_server, html_run, "wendy"))
    frame = page.frame_locator("#crowdsite-frame")
    frame.locator("#answer-plain").check()
    screenshot("onboarding")
    frame.locator("#onboarding-submit").click()

    sentence = frame.locator("#sentence")
    sentence.wait_for()
    # Only the page's own frame may submit: a message from elsewhere is ignored.
    page.evaluate(
        "window.postMessage({crowdsite: 'submit', fields: {rewrite: 'forged'},"
        " files: []}, '*')"
    )
    typed = "Use bold and quotes only now and then."
    frame.locator("#rewrite").fill(typed)
    frame.locator("#change-words").check()
    frame.locator("#change-length").check()
    screenshot("task")
    # The row's markup is shown as text: no element was made from it.
    assert sentence.inner_text() == row["text"]
    assert sentence.locator("img, b").count() == 0
    assert frame.locator("#source").inner_text() == row["source"]
    frame.locator("#submit").click()
    page.locator("#crowdsite-thanks").wait_for()
    screenshot("thanks")

    onboarding = OnboardingAgent.objects.get(worker__worker_name="wendy")
    assert onboarding.submission == {"answer": "plain"}
    agent = Agent.objects.get(worker__worker_name="wendy")
    assert agent.status == AgentStatus.COMPLETED
    assert agent.submission == {"rewrite": typed, "changes": ["words", "length"]}
    assert agent.unit.status == UnitStatus.COMPLETED
    assert agent.unit.assignment.data == row


def test_a_worker_who_fails_the_html_onboarding_sees_why(
    page, screenshot, live_server, html_run
):
    page.goto(task_url(live_server, html_run, "oscar"))
    frame = page.frame_locator("#crowdsite-frame")
    frame.locator("#answer-fancy").check()
    frame.locator("#onboarding-submit").click()

    reason = page.locator("#blocked-reason")
    reason.wait_for()
    screenshot("refused")

    assert "did not pass the onboarding" in reason.inner_text()
    assert not Agent.objects.filter(worker__worker_name="oscar").exists()


def test_the_preview_shows_the_preview_page_without_a_submit(
    page, screenshot, live_server, html_run
):
    page.goto(task_url(live_server, html_run, None))
    page.locator("#crowdsite-preview-note").wait_for()
    frame = page.frame_locator("#crowdsite-frame")
    frame.get_by_text("Rewrite a sentence in plain words").wait_for()
    screenshot("preview")

    assert page.locator("button, input[type=submit]").count() == 0
    assert frame.locator("button, input[type=submit], form").count() == 0
    assert not Agent.objects.exists()
    assert not OnboardingAgent.objects.exists()


def test_a_template_without_a_form_gets_a_submit_and_uploads_a_file(
    page, screenshot, live_server, launch, tmp_path, settings
):
    settings.MEDIA_ROOT = tmp_path / "media"
    run = template_run(launch, tmp_path, UPLOAD_TEMPLATE)
    photo = tmp_path / "tree.txt"
    photo.write_text("a tall oak\n")

    page.goto(task_url(live_server, run, "uma"))
    frame = page.frame_locator("#crowdsite-frame")
    frame.locator("#photo").set_input_files(str(photo))
    frame.locator("#caption").fill("oak")
    screenshot("upload")
    frame.locator("#html-task-submit-button").click()
    page.locator("#crowdsite-thanks").wait_for()

    submission = Agent.objects.get(worker__worker_name="uma").submission
    assert submission["final_data"]["caption"] == "oak"
    assert submission["final_data"]["photo"]["name"] == "tree.txt"
    [stored] = submission["files"]
    assert (settings.MEDIA_ROOT / stored["path"]).read_text() == "a tall oak\n"


# Mephisto's demo template shows both of its template variables.
VARIABLES_TEMPLATE = """<p>Agent <span id="agent">${mephisto_agent_id}</span>,
worker <span id="worker">${provider_worker_id}</span>: ${text}</p>
<form><input id="note" name="note"><button id="send">Send</button></form>
"""


def test_a_template_shows_the_agents_reference_and_the_worker_id(
    page, screenshot, live_server, launch, tmp_path
):
    run = template_run(launch, tmp_path, VARIABLES_TEMPLATE)

    page.goto(task_url(live_server, run, "vera"))
    frame = page.frame_locator("#crowdsite-frame")
    frame.locator("#agent").wait_for()
    screenshot("variables")
    agent = Agent.objects.get(worker__worker_name="vera")

    assert frame.locator("#worker").inner_text() == "vera"
    assert frame.locator("#agent").inner_text() == agent.public_id[:8]
    # The whole id, the worker's key to the API, is nowhere in the frame.
    frame_html = frame.locator("html").evaluate("(root) => root.outerHTML")
    assert agent.public_id not in frame_html
    assert "Take a photo of a tree." in frame_html
    frame.locator("#note").fill("seen")
    frame.locator("#send").click()
    page.locator("#crowdsite-thanks").wait_for()
    agent.refresh_from_db()
    assert agent.submission == {"note": "seen"}


def test_a_template_gets_nothing_of_the_requesters_session(
    page, screenshot, live_server, probe_run, staff_session
):
    page.goto(task_url(live_server, probe_run, "pat"))
    # The session is live in this browser: the task page itself can use it.
    assert "Site administration" in page.evaluate(
        "fetch('/admin/').then((r) => r.text())"
    )
    assert CSRF_TOKEN in page.evaluate("document.cookie")

    frame = page.frame_locator("#crowdsite-frame")
    for probe in ("#cookie", "#parent", "#storage", "#admin", "#admin-no-cors"):
        expect(frame.locator(probe)).not_to_have_text("pending")
    screenshot("probe")

    found = frame.locator("body").inner_text()
    assert staff_session not in found and CSRF_TOKEN not in found
    assert "Site administration" not in found and "<html" not in found
    assert frame.locator("#cookie").inner_text().startswith("blocked: SecurityError")
    assert frame.locator("#parent").inner_text().startswith("blocked: SecurityError")
    assert frame.locator("#admin").inner_text().startswith("blocked: TypeError")
    assert frame.locator("#admin-no-cors").inner_text() in ("read: opaque ", "")


def test_a_template_opened_directly_runs_sandboxed_too(
    page, screenshot, live_server, probe_run, staff_session
):
    page.goto(f"{live_server.url}/task/{probe_run.pk}/template/task.html")
    for probe in ("#cookie", "#admin"):
        expect(page.locator(probe)).not_to_have_text("pending")
    screenshot("direct")

    assert page.locator("#cookie").inner_text().startswith("blocked: SecurityError")
    assert page.locator("#admin").inner_text().startswith("blocked: TypeError")
    assert staff_session not in page.content()
