"""The agreement of one output field on the run dashboard (the run's admin page
with ?agreement=FIELD), and the output fields its form offers."""

from __future__ import annotations

import json
import re

import pytest
from django.utils import timezone

from tasks_app.selectors import agreement
from tasks_app.selectors.answer_fields import answer_fields
from tests.agreement_calls import (
    TRUTH,
    answer_all,
    launched,
    textbook_alpha,
    two_truthful_one_opposite,
)
from tests.command_calls import run_json
from tests.factories import AgentFactory, TaskRunFactory, UnitFactory, WorkerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page(admin_client, run, query: str = "") -> str:
    response = admin_client.get(f"/admin/tasks_app/taskrun/{run.pk}/change/{query}")
    assert response.status_code == 200
    return response.content.decode()


def section(html: str) -> str:
    start = html.index('id="rd-agreement"')
    return html[start : html.index("</section>", start)]


def table_rows(html: str) -> list[list[str]]:
    body = section(html).split("<tbody>")[1].split("</tbody>")[0]
    return [
        [
            re.sub(r"<[^>]+>", "", cell).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)
        ]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def chart_data(html: str) -> dict:
    found = re.search(
        r'<script id="run-agreement-data" type="application/json">(.*?)</script>',
        html,
        re.S,
    )
    assert found, "the chart's data is in the page"
    return json.loads(found.group(1))


def test_the_page_shows_alpha_items_and_each_workers_agreement(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run, "?agreement=label")

    alpha = textbook_alpha(len(TRUTH), TRUTH.count("yes"))
    shown = section(html)
    assert "Krippendorff's alpha (nominal)" in shown
    assert f"{alpha:.3f}" in shown
    assert re.search(r'id="rd-items">.*?<span class="rd-value">10</span>', shown, re.S)
    # The workers who agree least first.
    assert table_rows(html) == [
        ["mock:carol", "10", "0.0%"],
        ["mock:alice", "10", "100.0%"],
        ["mock:bob", "10", "100.0%"],
    ]
    assert 'id="rd-agreement-chart"' in shown


def test_the_charts_data_is_the_figures_run_status_prints(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    data = chart_data(page(admin_client, run, "?agreement=label"))
    printed = run_json("run_status", "--run", str(run.pk), "--agreement", "label")

    assert [w["worker"] for w in data["workers"]] == [
        "mock:carol",
        "mock:alice",
        "mock:bob",
    ]
    data["workers"].sort(key=lambda w: w["worker"])
    assert data == printed["agreement"]
    assert data["workers"][2] == {"worker": "mock:carol", "units": 10, "agreement": 0.0}


def test_numbers_at_the_interval_level(admin_client, tmp_path):
    run = launched(tmp_path, rows=3, per=2)
    answer_all(run, "alice", lambda row: row)
    answer_all(run, "bob", lambda row: row + 1 if row == 2 else row)

    html = page(admin_client, run, "?agreement=label&level=interval")

    expected = agreement.run_agreement(run=run, field="label", level="interval")
    assert "Krippendorff's alpha (interval)" in section(html)
    assert f"{expected.krippendorff_alpha:.3f}" in section(html)
    assert chart_data(html)["krippendorff_alpha"] == expected.krippendorff_alpha
    assert '<option value="interval" selected>' in section(html)


def test_a_dawid_skene_aggregate_is_shown_with_its_method(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run, "?agreement=label&method=dawid-skene")

    data = chart_data(html)
    expected = agreement.run_agreement(run=run, field="label", method="dawid-skene")
    assert "--method dawid-skene" in section(html)
    assert data["krippendorff_alpha"] == expected.krippendorff_alpha
    assert '<option value="dawid-skene" selected>' in section(html)


def test_a_bad_level_is_explained_on_the_page(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run, "?agreement=label&level=ratio")

    shown = section(html)
    assert (
        "&#x27;ratio&#x27; is not a level of measurement; valid: nominal, "
        "ordinal, interval" in shown
    )
    assert 'id="run-agreement-data"' not in html


def test_labels_that_arent_numbers_at_the_interval_level_are_explained(
    admin_client, tmp_path
):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run, "?agreement=label&level=interval")

    assert "an interval alpha needs numbers" in section(html)
    assert 'id="run-agreement-data"' not in html


def test_a_field_no_answer_has_is_explained_on_the_page(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run, "?agreement=colour")

    assert (
        "No answer to this run&#x27;s data units has the output field "
        "&#x27;colour&#x27;." in section(html)
    )
    assert 'value="colour"' not in html  # not offered as a field
    assert 'id="run-agreement-data"' not in html


def test_the_plain_page_computes_no_agreement(admin_client, tmp_path, monkeypatch):
    run = two_truthful_one_opposite(tmp_path)

    def not_on_a_plain_page(**kwargs):
        raise AssertionError("run_agreement called on a plain page load")

    monkeypatch.setattr(agreement, "run_agreement", not_on_a_plain_page)
    html = page(admin_client, run)

    shown = section(html)
    assert '<option value="label">label</option>' in shown
    assert 'id="rd-agreement-chart"' not in shown
    assert 'id="run-agreement-data"' not in html


def test_the_form_is_a_get_form_apart_from_the_admins_own(admin_client, tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    html = page(admin_client, run)

    # Forms don't nest: the GET form stands before the admin's (which saves
    # the run), and the controls in the dashboard name it.
    form = html.index('<form id="rd-agreement-form" method="get"')
    assert form < html.index('id="taskrun_form"')
    controls = re.findall(r"<(?:select|button)[^>]*>", section(html))
    assert len(controls) == 4
    assert all('form="rd-agreement-form"' in control for control in controls)
    names = re.findall(r'<select[^>]*name="(\w+)"', section(html))
    assert names == ["agreement", "level", "method"]


def test_a_run_without_answers_says_so(admin_client):
    run = TaskRunFactory(units=2)

    html = page(admin_client, run)

    assert "No answers yet." in section(html)


def test_a_gold_run_shows_each_workers_gold_accuracy(admin_client, execute):
    from tests.test_quality_unit_flows import GOLDS, arrive, quality_run, submit

    run = quality_run(GOLDS)
    submit(execute, run, arrive(run, "ivan", 1), {"rating": "bad"})  # gold: wrong
    submit(execute, run, arrive(run, "ivan", 2), {"rating": "good"})  # gold: right
    submit(execute, run, arrive(run, "ivan", 3), {"rating": "bad"})  # a data unit

    html = page(admin_client, run, "?agreement=rating")

    assert "Gold accuracy" in section(html)
    # ivan shared no row with anyone: no agreement, and no bar either.
    assert table_rows(html) == [["mock:ivan", "0", "–", "50.0%"]]
    assert chart_data(html)["workers"] == [
        {"worker": "mock:ivan", "units": 0, "agreement": None, "gold_accuracy": 0.5}
    ]


# --- the fields offered -------------------------------------------------------------


def submitted(run, submission, *, unit_index: int = 0, **fields):
    unit = UnitFactory(assignment__run=run, unit_index=unit_index)
    return AgentFactory(
        unit=unit,
        worker=WorkerFactory(),
        submission=submission,
        submitted_at=timezone.now(),
        **fields,
    )


def test_the_fields_offered_are_the_keys_of_the_runs_answers():
    run = TaskRunFactory()
    submitted(run, {"rating": 3, "comment": "fine"})
    submitted(run, {"rating": 4, "flag": True})
    submitted(run, ["not", "an", "object"])
    submitted(run, "text")
    submitted(run, None)

    assert answer_fields(run=run) == ["comment", "flag", "rating"]


def test_a_submission_with_files_offers_the_keys_of_its_answer():
    run = TaskRunFactory()
    submitted(run, {"final_data": {"caption": "a cat"}, "files": [{"name": "a.png"}]})
    submitted(run, {"final_data": "text", "files": []})

    assert answer_fields(run=run) == ["caption"]


def test_quality_units_unsubmitted_agents_and_other_runs_offer_no_field():
    run = TaskRunFactory()
    submitted(run, {"rating": 1})
    submitted(run, {"gold_only": 1}, unit_index=-2)
    submitted(TaskRunFactory(), {"elsewhere": 1})
    unsubmitted = UnitFactory(assignment__run=run)
    AgentFactory(unit=unsubmitted, worker=WorkerFactory(), submission={"draft": 1})

    assert answer_fields(run=run) == ["rating"]


def test_the_fields_offered_can_be_read_from_the_first_submissions_only():
    run = TaskRunFactory()
    for n in range(3):
        submitted(run, {"rating": n}, registration_id=f"r-{n}")
    submitted(run, {"late_key": 1}, registration_id="r-9")

    assert answer_fields(run=run, limit=3) == ["rating"]
    assert answer_fields(run=run) == ["late_key", "rating"]
