"""GET /?task_run_id=<run> and the run's scripts: the page a worker's browser loads,
at the site root as on Mephisto's task server; links to /task/<run>/ handed out
before it moved there; the task URL handed to providers (DESIGN §5)."""

from __future__ import annotations

import json
from xml.etree import ElementTree

import pytest

from providers.mturk.provider import EXTERNAL_QUESTION_XMLNS, external_question
from providers.prolific import ProlificProvider
from providers.prolific.provider import study_url
from tasks_app.selectors import run_spec, task_url
from tests.factories import TaskRunFactory
from tests.worker_calls import client_fixture as client_fixture
from tests.worker_calls import launch_fixture as launch_fixture

pytestmark = pytest.mark.django_db


def test_the_task_page_loads_the_runs_wrap_script_and_bundle(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/?task_run_id={run.pk}&worker_id=w1&assignment_id=a1")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    html = response.content.decode()
    assert f'<script src="/task/{run.pk}/wrap_crowd_source.js"></script>' in html
    assert f'<script src="/task/{run.pk}/bundle.js"></script>' in html
    assert f'"task_run_id": {run.pk}' in html
    assert "data-preview" not in html


@pytest.mark.parametrize("path", ["/admin/login/", "/task_config.json"])
def test_other_pages_refuse_to_be_framed(client, path):
    response = client.get(path)

    assert response["X-Frame-Options"] == "DENY"


def test_the_mturk_wrap_script_handles_preview_and_submits_to_mturk(client):
    run = TaskRunFactory(units=1, provider_type="mturk")

    response = client.get(f"/task/{run.pk}/wrap_crowd_source.js")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/javascript")
    script = response.content.decode()
    assert "ASSIGNMENT_ID_NOT_AVAILABLE" in script
    assert "/mturk/externalSubmit" in script
    for function in (
        "getWorkerName",
        "getAssignmentId",
        "getAgentRegistration",
        "handleSubmitToProvider",
        "getProviderURLParams",
    ):
        assert f"function {function}(" in script


def test_the_mturk_page_says_where_to_submit(client):
    live = TaskRunFactory(units=1, provider_type="mturk")
    sandbox = TaskRunFactory(units=1, provider_type="mturk_sandbox")

    live_page = client.get(f"/?task_run_id={live.pk}").content.decode()
    sandbox_page = client.get(f"/?task_run_id={sandbox.pk}").content.decode()

    assert '"mturk_submit_to": "https://www.mturk.com"' in live_page
    assert '"mturk_submit_to": "https://workersandbox.mturk.com"' in sandbox_page


def test_the_bundle_is_the_runs_task_source(client, launch):
    run = launch()

    response = client.get(f"/task/{run.pk}/bundle.js")

    assert response.status_code == 200
    source = run.resolved_config["mephisto"]["blueprint"]["task_source"]
    with open(source, "rb") as bundle:
        assert response.content == bundle.read()


def test_a_run_without_a_bundle_file_answers_404_for_it(client):
    run = TaskRunFactory(units=1)

    assert client.get(f"/task/{run.pk}/bundle.js").status_code == 404


def page_config(response) -> dict:
    return json.loads(
        response.content.decode()
        .split('id="crowdsite-config" type="application/json">')[1]
        .split("</script>")[0]
    )


def assert_plain_404(response, *words: str) -> None:
    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    for word in words:
        assert word in response.text


# --- the page at the root -------------------------------------------------------------


def test_the_task_page_is_served_at_the_root_with_the_runs_folder_as_base(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/?task_run_id={run.pk}&worker_id=w1&assignment_id=a1")

    assert response.status_code == 200
    html = response.content.decode()
    assert f'<base href="/task/{run.pk}/">' in html
    # The base comes before anything a relative URL could be resolved for.
    assert html.index("<base ") < html.index("<title>") < html.index("<script")
    assert f'<script src="/task/{run.pk}/wrap_crowd_source.js"></script>' in html
    assert f'<script src="/task/{run.pk}/bundle.js"></script>' in html
    assert page_config(response)["task_run_id"] == run.pk
    assert "data-preview" not in html


@pytest.mark.parametrize(
    "provider, ancestors",
    [
        ("mock", "*"),
        ("mturk", "https://worker.mturk.com https://www.mturk.com"),
        ("mturk_sandbox", "https://workersandbox.mturk.com"),
        ("prolific", "'self'"),
    ],
)
def test_the_root_page_may_be_framed_by_its_provider_and_is_never_cached(
    client, provider, ancestors
):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/?task_run_id={run.pk}")

    assert response["Content-Security-Policy"] == f"frame-ancestors {ancestors}"
    assert "X-Frame-Options" not in response
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    "provider, query",
    [
        ("mock", ""),
        ("mock", "&worker_id=w1"),
        ("mturk", "&workerId=W&assignmentId=ASSIGNMENT_ID_NOT_AVAILABLE&hitId=H"),
        ("prolific", "&participant_id=P&study_id=S"),
    ],
)
def test_at_the_root_a_missing_worker_or_assignment_is_a_preview(
    client, provider, query
):
    run = TaskRunFactory(units=1, provider_type=provider)

    response = client.get(f"/?task_run_id={run.pk}{query}")

    assert 'data-preview="true"' in response.content.decode()


def test_an_mturk_worker_at_the_root_is_not_a_preview(client):
    run = TaskRunFactory(units=1, provider_type="mturk")

    response = client.get(
        f"/?task_run_id={run.pk}&assignmentId=AS1&hitId=H1"
        "&turkSubmitTo=https%3A%2F%2Fwww.mturk.com&workerId=A1W"
    )

    assert "data-preview" not in response.content.decode()


def test_the_root_without_a_task_run_id_says_what_it_expects(client):
    response = client.get("/")

    assert_plain_404(response, "/?task_run_id=<run id>&", "has no task_run_id")


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "٣", "9" * 19])
def test_a_task_run_id_that_is_not_a_number_is_a_404_that_says_so(client, value):
    response = client.get("/", {"task_run_id": value})

    assert_plain_404(response, "task_run_id must be the number of a task run")


def test_the_root_for_an_unknown_run_is_a_404(client):
    assert_plain_404(client.get("/?task_run_id=99999999"), "no task run 99999999")


def test_the_root_page_is_read_only(client):
    run = TaskRunFactory(units=1)

    assert client.post(f"/?task_run_id={run.pk}").status_code == 405


# --- links to /task/<id>/ handed out before -------------------------------------------


def test_an_old_task_link_is_sent_to_the_root_with_its_query_unchanged(client):
    run = TaskRunFactory(units=1, provider_type="mturk")
    query = (
        "assignmentId=AS1&hitId=H1&turkSubmitTo=https%3A%2F%2Fwww.mturk.com"
        "&workerId=A1W&note=a+b%20c"
    )

    response = client.get(f"/task/{run.pk}/?{query}")

    assert response.status_code == 302
    assert response["Location"] == f"/?task_run_id={run.pk}&{query}"
    assert response["Cache-Control"] == "no-store"
    frame_ancestors = "frame-ancestors https://worker.mturk.com https://www.mturk.com"
    assert response["Content-Security-Policy"] == frame_ancestors
    assert "X-Frame-Options" not in response


def test_an_old_task_link_without_a_query_goes_to_the_runs_preview(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/task/{run.pk}/", follow=True)

    assert response.redirect_chain == [(f"/?task_run_id={run.pk}", 302)]
    assert 'data-preview="true"' in response.content.decode()


def test_the_runs_number_in_an_old_link_wins_over_a_task_run_id_in_its_query(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/task/{run.pk}/?task_run_id=7&worker_id=w1")

    assert response["Location"] == f"/?task_run_id={run.pk}&worker_id=w1"


def test_characters_a_url_may_not_hold_are_encoded_in_the_redirect(client):
    run = TaskRunFactory(units=1)

    response = client.get(f"/task/{run.pk}/", QUERY_STRING='worker_id=a"<b>')

    assert response["Location"] == f"/?task_run_id={run.pk}&worker_id=a%22%3Cb%3E"


def test_an_old_link_to_an_unknown_run_is_a_404(client):
    assert_plain_404(client.get("/task/99999999/"), "no task run 99999999")


# --- the URL handed to providers ------------------------------------------------------


def test_the_task_url_is_the_root_with_the_runs_id(settings):
    settings.SITE_URL = "http://crowd.test"
    run = TaskRunFactory(units=1)

    assert task_url(run) == f"http://crowd.test/?task_run_id={run.pk}"
    assert (
        task_url(run, worker_id="me", assignment_id="a 1")
        == f"http://crowd.test/?task_run_id={run.pk}&worker_id=me&assignment_id=a+1"
    )


def test_a_public_task_url_is_the_root_of_the_public_address(settings):
    settings.PUBLIC_URL = "https://tasks.example.org/"
    run = TaskRunFactory(units=1, architect_type="server")

    assert task_url(run) == f"https://tasks.example.org/?task_run_id={run.pk}"


def test_the_mturk_hit_opens_the_root_page_with_its_query_escaped_for_xml(settings):
    settings.PUBLIC_URL = "https://tasks.example.org"
    run = TaskRunFactory(units=1, architect_type="server", provider_type="mturk")

    question = external_question(task_url(run, note="a&b"))

    assert "&amp;note=a%26b" in question
    url = ElementTree.fromstring(question).find(
        f"{{{EXTERNAL_QUESTION_XMLNS}}}ExternalURL"
    )
    # MTurk appends its parameters to this query with "&".
    assert url is not None
    assert url.text == f"https://tasks.example.org/?task_run_id={run.pk}&note=a%26b"


def test_the_prolific_study_url_adds_the_participant_to_the_task_urls_query(settings):
    settings.PUBLIC_URL = "https://tasks.example.org"
    run = TaskRunFactory(units=1, architect_type="server", provider_type="prolific")

    draft = ProlificProvider.study_draft(
        run_spec(run), places=1, task_url=task_url(run)
    )

    assert draft["external_study_url"] == (
        f"https://tasks.example.org/?task_run_id={run.pk}"
        "&participant_id={{%PROLIFIC_PID%}}"
        "&study_id={{%STUDY_ID%}}"
        "&submission_id={{%SESSION_ID%}}"
    )


@pytest.mark.parametrize(
    ("url", "joined"),
    [
        ("https://t.example/?task_run_id=1", "https://t.example/?task_run_id=1&p"),
        ("https://t.example/study", "https://t.example/study?p"),
        ("https://t.example/?", "https://t.example/?p"),
        ("https://t.example/?a=1&", "https://t.example/?a=1&p"),
    ],
)
def test_the_prolific_placeholders_join_any_task_url_with_one_separator(
    monkeypatch, url, joined
):
    monkeypatch.setattr("providers.prolific.provider.STUDY_URL_PARAMETERS", "p")

    assert study_url(url) == joined
