"""`export_results --aggregate FIELD`: one row per data row with its answers
aggregated (crowd-kit), as JSONL or CSV; refusals by name."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tasks_app.models import Assignment
from tests.agreement_calls import (
    TRUTH,
    answer_all,
    launched,
    truthful,
    two_truthful_one_opposite,
)

pytestmark = pytest.mark.django_db


def export(*args: str) -> str:
    out = io.StringIO()
    call_command("export_results", *args, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("method", ["majority", "dawid-skene"])
def test_each_data_row_gets_its_aggregated_label(tmp_path, method):
    run = two_truthful_one_opposite(tmp_path)

    lines = export("--run", str(run.pk), "--aggregate", "label", "--method", method)

    rows = [json.loads(line) for line in lines.splitlines()]
    assert [row["label"] for row in rows] == TRUTH
    first = rows[0]
    assert set(first) == {
        "assignment_id",
        "inputs",
        "field",
        "label",
        "confidence",
        "votes",
        "workers",
    }
    assert first["assignment_id"] == Assignment.objects.get(run=run, row_index=0).pk
    assert first["inputs"] == {"text": "row 0"}
    assert first["field"] == "label"
    assert first["votes"] == {"no": 1, "yes": 2}
    assert sorted(first["workers"]) == ["mock:alice", "mock:bob", "mock:carol"]


def test_the_csv_has_the_columns_then_the_inputs(tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    text = export("--run", str(run.pk), "--aggregate", "label", "--format", "csv")

    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "assignment_id",
        "field",
        "label",
        "confidence",
        "votes",
        "workers",
        "Input.text",
    ]
    assert (rows[0]["label"], rows[0]["Input.text"]) == ("yes", "row 0")
    assert json.loads(rows[0]["votes"]) == {"no": 1, "yes": 2}
    assert float(rows[0]["confidence"]) == pytest.approx(2 / 3)


def test_rows_nobody_answered_are_exported_with_no_label(tmp_path):
    run = launched(tmp_path, rows=3, per=1)
    answer_all(run, "alice", truthful)
    Assignment.objects.create(run=run, row_index=3, data={"text": "row 3"})

    rows = [
        json.loads(line)
        for line in export("--run", str(run.pk), "--aggregate", "label").splitlines()
    ]

    assert [(r["label"], r["confidence"]) for r in rows] == [
        ("yes", 1.0),
        ("no", 1.0),
        ("yes", 1.0),
        (None, None),
    ]
    assert rows[3]["votes"] == {} and rows[3]["workers"] == []


@pytest.mark.parametrize(
    "extra, says",
    [
        (["--method", "vote"], "--method 'vote': not an aggregation method"),
        (["--status", "accepted"], "--status doesn't apply to --aggregate"),
        (
            ["--include-quality-units"],
            "--include-quality-units doesn't apply to --aggregate",
        ),
    ],
)
def test_options_that_dont_go_with_aggregate_are_refused(tmp_path, extra, says):
    run = launched(tmp_path, rows=1, per=1)

    with pytest.raises(CommandError, match=says):
        export("--run", str(run.pk), "--aggregate", "label", *extra)


def test_method_without_aggregate_is_refused(tmp_path):
    run = launched(tmp_path, rows=1, per=1)

    with pytest.raises(CommandError, match="--method goes with --aggregate"):
        export("--run", str(run.pk), "--method", "majority")
