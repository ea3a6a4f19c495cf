"""`run_status --agreement FIELD`: Krippendorff's alpha and each worker's
agreement with the aggregate, as text and in --json (DESIGN §8)."""

from __future__ import annotations

import pytest
from django.core.management.base import CommandError

from tests.agreement_calls import TRUTH, textbook_alpha, two_truthful_one_opposite
from tests.command_calls import run as run_command
from tests.command_calls import run_json

pytestmark = pytest.mark.django_db


def test_json_carries_the_agreement_in_designs_shape(tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)

    data = run_json("run_status", "--run", str(task_run.pk), "--agreement", "label")

    figures = data["agreement"]
    assert set(figures) == {"field", "krippendorff_alpha", "items", "workers"}
    assert figures["field"] == "label"
    assert figures["items"] == len(TRUTH)
    assert figures["krippendorff_alpha"] == pytest.approx(
        textbook_alpha(len(TRUTH), TRUTH.count("yes")), abs=1e-6
    )
    assert figures["workers"] == [
        {"worker": "mock:alice", "units": 10, "agreement": 1.0},
        {"worker": "mock:bob", "units": 10, "agreement": 1.0},
        {"worker": "mock:carol", "units": 10, "agreement": 0.0},
    ]


def test_the_text_shows_alpha_and_each_workers_agreement(tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)

    text = run_command("run_status", "--run", str(task_run.pk), "--agreement", "label")

    assert "Agreement on 'label': Krippendorff's alpha -0.289 over 10 row(s)" in text
    assert "  mock:alice       10       100%" in text
    assert "  mock:carol       10         0%" in text


def test_without_agreement_there_is_no_agreement_key(tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)

    data = run_json("run_status", "--run", str(task_run.pk))

    assert "agreement" not in data


def test_a_field_no_submission_has_is_refused_by_name(tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)

    with pytest.raises(CommandError, match="no submission of run .* field 'ratng'"):
        run_command("run_status", "--run", str(task_run.pk), "--agreement", "ratng")


def test_an_interval_alpha_of_text_labels_is_refused_saying_why(tmp_path):
    task_run = two_truthful_one_opposite(tmp_path)

    with pytest.raises(CommandError, match="needs numbers"):
        run_command(
            "run_status",
            "--run",
            str(task_run.pk),
            "--agreement",
            "label",
            "--level",
            "interval",
        )
