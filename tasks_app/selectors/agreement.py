"""Agreement and aggregation over a run's answers to one output field: the
aggregated label of each data row (crowd-kit's majority vote or Dawid-Skene),
Krippendorff's alpha over the rows with two answers or more (the krippendorff
package), and each worker's agreement with the aggregate.

An answer is the value of `field` in a submission of one of the run's data units
(quality units left out) that was not rejected: the unit holder's submission,
one per unit, so a data row has as many answers as workers who did its units
(Mephisto's `units_per_assignment`). A submission without the field gives no
answer. Labels are compared as JSON values: 1 and "1" are different labels.

Ties: the first of the tied labels by their JSON text (`"no"` before `"yes"`,
`1` before `2`), whatever order crowd-kit met them in; the confidence (for a
majority vote its share of the votes, 0.5 for a two-way tie) shows the tie. A
row with one answer gets that answer with confidence 1.0; it counts toward no
alpha and no worker's agreement, as nobody else answered it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import F

from tasks_app.models import Agent, AgentStatus, Assignment, TaskRun
from tasks_app.selectors.quality import golds_of, run_gold_records

METHODS = ("majority", "dawid-skene")
LEVELS = ("nominal", "ordinal", "interval")


class AgreementError(Exception):
    """Figures that can't be made (unknown method or level, labels that aren't
    numbers at an ordinal or interval level), saying why."""


@dataclass(frozen=True)
class Answer:
    row: int  # the data row (Assignment id)
    worker: str  # PROVIDER:ID
    label: Any  # a JSON value


@dataclass(frozen=True)
class RowLabel:
    """A data row's aggregated answer."""

    assignment_id: int
    inputs: Any
    label: Any
    confidence: float | None
    votes: dict[str, int]  # label (vote_key) -> answers
    workers: list[str]


@dataclass(frozen=True)
class WorkerAgreement:
    worker: str  # PROVIDER:ID
    units: int  # answers given on rows with two answers or more
    agreement: float | None  # share of those equal to the aggregate label
    gold_accuracy: float | None = None  # right / judged golds, on gold runs


@dataclass(frozen=True)
class Agreement:
    field: str
    krippendorff_alpha: float | None  # None: no row has two answers
    items: int  # rows with two answers or more
    workers: list[WorkerAgreement] = dataclasses.field(default_factory=list)
    level: str = "nominal"
    method: str = "majority"

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "krippendorff_alpha": self.krippendorff_alpha,
            "items": self.items,
            "workers": [
                {
                    "worker": w.worker,
                    "units": w.units,
                    "agreement": w.agreement,
                    **(
                        {"gold_accuracy": w.gold_accuracy}
                        if w.gold_accuracy is not None
                        else {}
                    ),
                }
                for w in self.workers
            ],
        }


def label_key(value: Any) -> str:
    """A label as the key it is counted under: its JSON text."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def vote_key(value: Any) -> str:
    """A label as a key of `votes`: text as it is, anything else as JSON text
    (so the number 1 is "1", as JSON object keys must be text)."""
    return value if isinstance(value, str) else label_key(value)


def _outputs(submission: Any) -> Any:
    if isinstance(submission, dict) and set(submission) == {"final_data", "files"}:
        return submission["final_data"]
    return submission


def answers(*, run: TaskRun, field: str) -> list[Answer]:
    """The run's answers to `field` (see the module's docstring), in one query."""
    rows = (
        Agent.objects.filter(
            run=run,
            submitted_at__isnull=False,
            unit__unit_index__gte=0,
            # The unit holder's submission: one answer per unit.
            unit__worker_id=F("worker_id"),
        )
        .exclude(status=AgentStatus.REJECTED)
        .order_by("unit__assignment_id", "pk")
        .values_list(
            "unit__assignment_id",
            "worker__provider_type",
            "worker__worker_name",
            "submission",
        )
    )
    found = []
    for row, provider, name, submission in rows.iterator(chunk_size=5000):
        outputs = _outputs(submission)
        if isinstance(outputs, dict) and field in outputs:
            found.append(Answer(row, f"{provider}:{name}", outputs[field]))
    return found


def aggregate(found: list[Answer], *, method: str = "majority") -> dict[int, Any]:
    """{row: (label key, confidence)} by crowd-kit's `method`."""
    if method not in METHODS:
        raise AgreementError(
            f"{method!r} is not an aggregation method; valid: {', '.join(METHODS)}"
        )
    if not found:
        return {}
    # Imported here: crowd-kit (and pandas) take seconds to import, which only
    # aggregation should pay.
    import pandas as pd
    from crowdkit.aggregation import DawidSkene, MajorityVote

    frame = pd.DataFrame(
        {
            "task": [a.row for a in found],
            "worker": [a.worker for a in found],
            "label": [label_key(a.label) for a in found],
        }
    )
    model = MajorityVote() if method == "majority" else DawidSkene(n_iter=100)
    # crowd-kit still uses pandas keywords pandas deprecates (inplace=...): its
    # business, not the requester's. A filter for the process, added once (and
    # harmless to add again): catch_warnings() would swap the process's filters
    # under the other threads of a threaded server.
    warnings.filterwarnings("ignore", module="crowdkit")
    model.fit(frame)
    probas = model.probas_
    assert probas is not None, "a fitted crowd-kit model has its probabilities"
    import numpy as np

    # A tie goes to the first tied label by its JSON text, whatever order
    # crowd-kit met the labels in: columns sorted by label, the first maximum
    # of each row taken (one pass over the array, not a Python loop per row).
    ordered = probas.reindex(columns=sorted(probas.columns, key=str))
    shares = ordered.to_numpy(dtype=float)
    top = shares.max(axis=1)
    first = np.argmax(shares >= (top - 1e-9)[:, None], axis=1)
    labels = [str(ordered.columns[i]) for i in first]
    return {
        int(row): (label, float(best))
        for row, label, best in zip(ordered.index, labels, top, strict=True)
    }


def row_labels(
    *, run: TaskRun, field: str, method: str = "majority"
) -> Iterator[RowLabel]:
    """Each data row of the run with its aggregated answer to `field` (rows
    nobody answered: label and confidence None), in row order."""
    found = answers(run=run, field=field)
    labels = aggregate(found, method=method)
    by_row: dict[int, list[Answer]] = defaultdict(list)
    for answer in found:
        by_row[answer.row].append(answer)
    values = {label_key(a.label): a.label for a in found}
    rows = (
        Assignment.objects.filter(run=run, row_index__gte=0)
        .order_by("row_index")
        .values_list("pk", "data")
    )
    for pk, data in rows.iterator(chunk_size=2000):
        given = by_row.get(pk, [])
        key, confidence = labels.get(pk, (None, None))
        yield RowLabel(
            assignment_id=pk,
            inputs=data,
            label=values[key] if key is not None else None,
            confidence=None if confidence is None else round(confidence, 6),
            votes=dict(sorted(Counter(vote_key(a.label) for a in given).items())),
            workers=[a.worker for a in given],
        )


def run_agreement(
    *,
    run: TaskRun,
    field: str,
    level: str = "nominal",
    method: str = "majority",
) -> Agreement:
    """Krippendorff's alpha over the rows with two answers or more (at `level`),
    and each worker's agreement with the aggregate label (by `method`), with
    their gold accuracy on a gold run."""
    if level not in LEVELS:
        raise AgreementError(
            f"{level!r} is not a level of measurement; valid: {', '.join(LEVELS)}"
        )
    found = answers(run=run, field=field)
    by_row: dict[int, list[Answer]] = defaultdict(list)
    for answer in found:
        by_row[answer.row].append(answer)
    shared = {row: given for row, given in by_row.items() if len(given) >= 2}
    labels = aggregate(found, method=method)
    alpha = _alpha(shared, level) if shared else None
    given_by: dict[str, list[bool]] = defaultdict(list)
    for row, given in shared.items():
        for answer in given:
            given_by[answer.worker].append(label_key(answer.label) == labels[row][0])
    workers = sorted({a.worker for a in found})
    accuracy = _gold_accuracy(run, workers)
    return Agreement(
        field=field,
        krippendorff_alpha=alpha,
        items=len(shared),
        level=level,
        method=method,
        workers=[
            WorkerAgreement(
                worker=worker,
                units=len(given_by[worker]),
                agreement=(
                    sum(given_by[worker]) / len(given_by[worker])
                    if given_by[worker]
                    else None
                ),
                gold_accuracy=accuracy.get(worker),
            )
            for worker in workers
        ],
    )


def _alpha(shared: dict[int, list[Answer]], level: str) -> float | None:
    import krippendorff
    import numpy as np

    coders = sorted({a.worker for given in shared.values() for a in given})
    rows = sorted(shared)
    column = {row: i for i, row in enumerate(rows)}
    line = {worker: i for i, worker in enumerate(coders)}
    data = np.full((len(coders), len(rows)), np.nan)
    codes: dict[str, int] = {}
    for row, given in shared.items():
        for answer in given:
            data[line[answer.worker], column[row]] = _value(answer.label, level, codes)
    if level == "nominal" and len(codes) < 2:
        # Every answer the same: no disagreement to measure against.
        return 1.0
    measure: Any = level  # one of LEVELS, checked by the caller
    value = krippendorff.alpha(reliability_data=data, level_of_measurement=measure)
    return None if math.isnan(value) else round(float(value), 6)


def _value(label: Any, level: str, codes: dict[str, int]) -> float:
    if level == "nominal":
        return float(codes.setdefault(label_key(label), len(codes)))
    if isinstance(label, bool) or not isinstance(label, int | float):
        raise AgreementError(
            f"an {level} alpha needs numbers, and one answer is {label!r}; use "
            "the nominal level for labels that are not numbers"
        )
    return float(label)


def _gold_accuracy(run: TaskRun, workers: list[str]) -> dict[str, float]:
    """{PROVIDER:ID: right / judged golds} of `workers` on a gold run (one query)."""
    golds = golds_of(run)
    if golds is None or not workers:
        return {}
    records = run_gold_records(run=run, golds=golds)
    accuracy = {}
    for worker in workers:
        record = records.get(worker)
        judged = record.correct + record.wrong if record else 0
        if record and judged:
            accuracy[worker] = round(record.correct / judged, 6)
    return accuracy
