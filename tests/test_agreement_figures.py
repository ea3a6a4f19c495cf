"""Agreement and aggregation (tasks_app/selectors/agreement.py): on a run where
two workers always answer the truth and one always the opposite, the aggregate
labels are the truth, alpha is the textbook value and agreement is 1, 1, 0."""

from __future__ import annotations

import pytest

from tasks_app.selectors import agreement
from tests.agreement_calls import (
    TRUTH,
    answer_all,
    launched,
    textbook_alpha,
    truthful,
    two_truthful_one_opposite,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("method", agreement.METHODS)
def test_the_aggregate_labels_are_the_truth(tmp_path, method):
    run = two_truthful_one_opposite(tmp_path)

    rows = list(agreement.row_labels(run=run, field="label", method=method))

    assert [row.label for row in rows] == TRUTH
    assert all(row.workers and len(row.workers) == 3 for row in rows)
    first = rows[0]
    assert first.votes == {"no": 1, "yes": 2}
    assert first.inputs == {"text": "row 0"}


def test_majority_confidence_is_the_share_of_votes(tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    rows = list(agreement.row_labels(run=run, field="label"))

    assert all(row.confidence == pytest.approx(2 / 3) for row in rows)


def test_alpha_is_the_textbook_value_and_agreement_is_1_1_0(tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    figures = agreement.run_agreement(run=run, field="label")

    expected = textbook_alpha(len(TRUTH), TRUTH.count("yes"))
    assert figures.krippendorff_alpha == pytest.approx(expected, abs=1e-6)
    assert figures.items == len(TRUTH)
    assert [(w.worker, w.units, w.agreement) for w in figures.workers] == [
        ("mock:alice", 10, 1.0),
        ("mock:bob", 10, 1.0),
        ("mock:carol", 10, 0.0),
    ]


def test_a_row_with_one_answer_gets_it_and_counts_toward_no_agreement(tmp_path):
    run = launched(tmp_path, rows=2, per=2)
    answer_all(run, "alice", truthful)

    rows = list(agreement.row_labels(run=run, field="label"))
    figures = agreement.run_agreement(run=run, field="label")

    assert [(r.label, r.confidence) for r in rows] == [("yes", 1.0), ("no", 1.0)]
    assert (figures.krippendorff_alpha, figures.items) == (None, 0)
    assert [(w.units, w.agreement) for w in figures.workers] == [(0, None)]


def test_a_tie_goes_to_the_first_label_and_its_confidence_shows_it(tmp_path):
    run = launched(tmp_path, rows=1, per=2)
    answer_all(run, "alice", lambda row: "yes")
    answer_all(run, "bob", lambda row: "no")

    [row] = agreement.row_labels(run=run, field="label")

    assert (row.label, row.confidence) == ("no", 0.5)


def test_numbers_at_the_interval_level(tmp_path):
    run = launched(tmp_path, rows=3, per=2)
    answer_all(run, "alice", lambda row: row)
    answer_all(run, "bob", lambda row: row)

    figures = agreement.run_agreement(run=run, field="label", level="interval")

    assert figures.krippendorff_alpha == pytest.approx(1.0)


def test_an_interval_alpha_of_labels_that_are_not_numbers_is_refused(tmp_path):
    run = two_truthful_one_opposite(tmp_path)

    with pytest.raises(agreement.AgreementError, match="needs numbers.*'yes'"):
        agreement.run_agreement(run=run, field="label", level="interval")


def test_an_unknown_method_or_level_is_refused_naming_the_valid_ones(tmp_path):
    run = launched(tmp_path, rows=1, per=1)

    with pytest.raises(agreement.AgreementError, match="valid: majority, dawid"):
        agreement.run_agreement(run=run, field="label", method="vote")
    with pytest.raises(agreement.AgreementError, match="valid: nominal, ordinal"):
        agreement.run_agreement(run=run, field="label", level="ratio")


def test_on_a_gold_run_each_worker_has_their_gold_accuracy(execute):
    from tests.test_quality_unit_flows import GOLDS, arrive, quality_run, submit

    run = quality_run(GOLDS)
    submit(execute, run, arrive(run, "ivan", 1), {"rating": "bad"})  # gold: wrong
    submit(execute, run, arrive(run, "ivan", 2), {"rating": "good"})  # gold: right
    submit(execute, run, arrive(run, "ivan", 3), {"rating": "bad"})  # a data unit

    figures = agreement.run_agreement(run=run, field="rating")

    [ivan] = figures.workers
    assert (ivan.worker, ivan.gold_accuracy) == ("mock:ivan", 0.5)
    assert figures.as_dict()["workers"][0]["gold_accuracy"] == 0.5
