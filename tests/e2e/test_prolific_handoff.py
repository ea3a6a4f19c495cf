"""The Prolific hand-off in a real browser: the completion code reaches the page
only after the work is stored, and takes the participant back to Prolific."""

from __future__ import annotations

import pytest

from providers.prolific.provider import completion_code
from tasks_app.models import Agent, AgentStatus, TaskRun
from tasks_app.run_config import load_run_config
from tasks_app.selectors import forget_cached_runs, run_spec
from tasks_app.services import launch_run

pytestmark = pytest.mark.django_db(transaction=True)

PROLIFIC_COMPLETE = "https://app.prolific.com/submissions/complete?cc="


@pytest.fixture
def prolific_run(
    example_config, settings, live_server, django_capture_on_commit_callbacks
) -> TaskRun:
    settings.SITE_URL = live_server.url
    # No token: nothing can reach Prolific; the arrival check says so and lets in.
    settings.PROLIFIC_API_KEY = ""
    with django_capture_on_commit_callbacks(execute=True):
        run = launch_run(config=load_run_config(example_config))
    # A real Prolific launch would create the study; the page needs only the type.
    TaskRun.objects.filter(pk=run.pk).update(provider_type="prolific")
    forget_cached_runs()
    run.refresh_from_db()
    return run


@pytest.fixture
def off_site(page, live_server):
    """Every request the page makes to another origin, answered here, never sent."""
    seen: list[str] = []

    def handle(route, request):
        if request.url.startswith(live_server.url):
            route.continue_()
            return
        seen.append(request.url)
        route.fulfill(status=200, content_type="text/html", body="<p>Prolific</p>")

    page.route("**/*", handle)
    return seen


def study_url(live_server, run: TaskRun) -> str:
    return (
        f"{live_server.url}/?task_run_id={run.pk}"
        "&participant_id=P1&study_id=ST1&submission_id=S1"
    )


def test_after_submitting_the_participant_goes_back_to_prolific_with_the_code(
    page, live_server, prolific_run, off_site
):
    page.goto(study_url(live_server, prolific_run))
    assert completion_code(run_spec(prolific_run)) not in page.content()
    page.click("#onboarding-good")
    page.click("#rate-good")
    page.wait_for_url(f"{PROLIFIC_COMPLETE}*")

    assert off_site == [PROLIFIC_COMPLETE + completion_code(run_spec(prolific_run))]
    agent = Agent.objects.get(worker__worker_name="P1")
    assert agent.status == AgentStatus.COMPLETED
    assert agent.provider_assignment_id == "S1"


def test_a_preview_never_sees_the_code(page, live_server, prolific_run, off_site):
    page.goto(f"{live_server.url}/?task_run_id={prolific_run.pk}")

    assert completion_code(run_spec(prolific_run)) not in page.content()
    assert off_site == []


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (
            {"status": 409, "json": {"error": "submit the task first"}},
            "could not be given: submit the task first",
        ),
        (None, "could not be fetched (the connection failed)"),
    ],
)
def test_a_code_that_cant_be_had_is_explained_above_the_task(
    page, live_server, prolific_run, off_site, answer, says
):
    def refuse(route):
        if answer is None:
            route.abort()
        else:
            route.fulfill(**answer)

    page.route("**/completion_code?*", refuse)
    page.goto(study_url(live_server, prolific_run))
    page.click("#onboarding-good")
    page.click("#rate-good")
    notice = page.locator("#crowdsite-notice")
    notice.wait_for(timeout=10_000)

    assert says in notice.inner_text()
    assert "message the researcher on Prolific" in notice.inner_text()
    assert off_site == []
    # The work itself is stored.
    assert Agent.objects.get(worker__worker_name="P1").status == AgentStatus.COMPLETED
