"""Screening and gold units in a real browser, on the sentence-rating example's
configs (examples/static_react_task/conf/screening.yaml and golds.yaml): a new
worker's first unit is the quality unit, its answer decides what they get next.
"""

from __future__ import annotations

import json

import pytest

from qualifications_app.models import GrantedQualification
from tasks_app.models import Agent, AgentStatus, Unit, UnitStatus
from tasks_app.selectors.quality import GOLD_UNIT_INDEX, SCREENING_UNIT_INDEX
from tests.conftest import EXAMPLE_CONF
from tests.e2e.pages import task_url

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLE = EXAMPLE_CONF.parent
SCREENING_TEXT = "SCREENING UNIT: Press the Bad button"  # hooks.py
GOLDS = {
    row["inputs"]["text"]: row["expected"]["rating"]
    for row in map(json.loads, (EXAMPLE / "data" / "golds.jsonl").open())
}
OTHER_ANSWER = {"good": "bad", "bad": "good"}
SENTENCES = (EXAMPLE / "data" / "sentences.csv").read_text().splitlines()[1:]


@pytest.fixture
def screening_run(launch_config):
    return launch_config(EXAMPLE_CONF / "screening.yaml")


@pytest.fixture
def gold_run(launch_config):
    return launch_config(EXAMPLE_CONF / "golds.yaml")


def shown_sentence(page) -> str:
    sentence = page.locator("#sentence")
    sentence.wait_for()
    return sentence.inner_text()


def rate(page, rating: str) -> None:
    page.click(f"#rate-{rating}")
    page.locator("#crowdsite-thanks").wait_for()


def refusal(page) -> str:
    reason = page.locator("#blocked-reason")
    reason.wait_for()
    return reason.inner_text()


def held(worker_name: str) -> set[str]:
    return set(
        GrantedQualification.objects.filter(
            worker__worker_name=worker_name
        ).values_list("qualification__name", flat=True)
    )


def submitted_indexes(worker_name: str) -> list[int]:
    return list(
        Agent.objects.filter(
            worker__worker_name=worker_name, status=AgentStatus.COMPLETED
        )
        .order_by("pk")
        .values_list("unit__unit_index", flat=True)
    )


def test_a_worker_who_passes_the_screening_unit_gets_a_real_unit_next(
    page, screenshot, live_server, screening_run, traffic
):
    page.goto(task_url(live_server, screening_run, "sam", "a1"))
    assert shown_sentence(page) == SCREENING_TEXT
    screenshot("screening-unit")
    rate(page, "bad")

    assert "sentence-rating-screening-passed" in held("sam")

    page.goto(task_url(live_server, screening_run, "sam", "a2"))
    real = shown_sentence(page)
    screenshot("real-unit")
    rate(page, "good")

    assert real in SENTENCES
    assert submitted_indexes("sam") == [SCREENING_UNIT_INDEX, 0]
    # The screening unit is no data: every sentence but the one rated is left.
    assert (
        Unit.objects.filter(
            run=screening_run, unit_index__gte=0, status=UnitStatus.COMPLETED
        ).count()
        == 1
    )
    assert all(status < 400 for _, _, status in traffic["responses"]), traffic
    assert traffic["console"] == []


def test_a_worker_who_fails_the_screening_unit_is_refused_on_their_next_visit(
    page, screenshot, live_server, screening_run
):
    page.goto(task_url(live_server, screening_run, "gus", "a1"))
    assert shown_sentence(page) == SCREENING_TEXT
    rate(page, "good")

    assert "sentence-rating-screening-blocked" in held("gus")

    page.goto(task_url(live_server, screening_run, "gus", "a2"))
    shown = refusal(page)
    screenshot("blocked")

    assert "You are blocked from working on this task." in shown
    assert submitted_indexes("gus") == [SCREENING_UNIT_INDEX]
    assert not Unit.objects.filter(worker__worker_name="gus", unit_index__gte=0)


def test_a_new_workers_first_unit_is_a_gold_and_a_right_answer_admits_them(
    page, screenshot, live_server, gold_run
):
    page.goto(task_url(live_server, gold_run, "gwen", "a1"))
    gold = shown_sentence(page)
    screenshot("gold-unit")
    assert gold in GOLDS
    rate(page, GOLDS[gold])

    assert "sentence-rating-golds-correct-golds" in held("gwen")

    page.goto(task_url(live_server, gold_run, "gwen", "a2"))
    real = shown_sentence(page)
    screenshot("real-unit")
    rate(page, "good")

    assert real in SENTENCES
    assert submitted_indexes("gwen") == [GOLD_UNIT_INDEX, 0]


def test_a_worker_past_max_incorrect_golds_is_told_they_are_disqualified(
    page, screenshot, live_server, gold_run
):
    # max_incorrect_golds is 1: the first wrong gold is tolerated, and with no
    # right one yet the worker gets another gold; a second wrong one disqualifies.
    for visit in ("a1", "a2"):
        page.goto(task_url(live_server, gold_run, "walt", visit))
        gold = shown_sentence(page)
        assert gold in GOLDS
        rate(page, OTHER_ANSWER[GOLDS[gold]])

    page.goto(task_url(live_server, gold_run, "walt", "a3"))
    shown = refusal(page)
    screenshot("disqualified")

    assert "answered too many of this task's check questions wrongly" in shown
    assert "sentence-rating-golds-disqualified" in held("walt")
    assert submitted_indexes("walt") == [GOLD_UNIT_INDEX, GOLD_UNIT_INDEX]
    assert not Unit.objects.filter(worker__worker_name="walt", unit_index__gte=0)
