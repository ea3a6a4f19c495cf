"""The aggregated export (`export_results --aggregate FIELD`): one row per data
row of each run, its answers to FIELD aggregated (selectors.agreement), as JSONL
or CSV (DESIGN §8).

A JSONL row: {"assignment_id", "inputs", "field", "label", "confidence",
"votes": {label: count}, "workers": ["PROVIDER:ID", ...]}. A data row nobody
answered has label and confidence null, no votes and no workers. Screening and
gold units never count (they are not data). The CSV has the columns
assignment_id, field, label, confidence, votes and workers (JSON), then
Input.<key> for each key of the data rows, escaped as every export's cells are.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from crowdsite import csv_safety
from tasks_app.models import TaskRun
from tasks_app.selectors.agreement import RowLabel, row_labels
from tasks_app.selectors.export.results import BOM
from tasks_app.selectors.export.rows import _cell

AGGREGATE_COLUMNS = (
    "assignment_id",
    "field",
    "label",
    "confidence",
    "votes",
    "workers",
)
# U+2028/U+2029/U+0085 break a JSONL line in some readers, as in every export.
_LINE_BREAK_ESCAPES = {0x2028: "\\u2028", 0x2029: "\\u2029", 0x85: "\\u0085"}


class AggregatedExport:
    """The aggregated rows of runs `run_ids` for `field` by `method`."""

    def __init__(self, *, run_ids: Iterable[int], field: str, method: str):
        self.run_ids = tuple(run_ids)
        self.field = field
        self.method = method
        self.rows = 0

    def chunks(self, format: str, *, bom: bool = False) -> Iterator[str]:
        labelled = [
            row
            for run in TaskRun.objects.filter(pk__in=self.run_ids).order_by("pk")
            for row in row_labels(run=run, field=self.field, method=self.method)
        ]
        self.rows = len(labelled)
        if format == "jsonl":
            yield "".join(self._line(row) for row in labelled)
            return
        yield from self._csv(labelled, bom=bom)

    def _row(self, row: RowLabel) -> dict[str, Any]:
        return {
            "assignment_id": row.assignment_id,
            "inputs": row.inputs,
            "field": self.field,
            "label": row.label,
            "confidence": row.confidence,
            "votes": row.votes,
            "workers": row.workers,
        }

    def _line(self, row: RowLabel) -> str:
        line = json.dumps(self._row(row), ensure_ascii=False)
        return line.translate(_LINE_BREAK_ESCAPES) + "\n"

    def _csv(self, labelled: list[RowLabel], *, bom: bool) -> Iterator[str]:
        keys = sorted(
            {
                key
                for row in labelled
                if isinstance(row.inputs, dict)
                for key in row.inputs
            }
        )
        out = io.StringIO()
        csv_safety.writer(out).writerow(
            [*AGGREGATE_COLUMNS, *(f"Input.{key}" for key in keys)]
        )
        # Outside text escaped cell by cell (_cell), as the results export does.
        writer = csv.writer(out)
        for row in labelled:
            inputs = row.inputs if isinstance(row.inputs, dict) else {}
            writer.writerow(
                [
                    row.assignment_id,
                    _cell(self.field),
                    _cell(row.label),
                    row.confidence,
                    _cell(row.votes),
                    _cell(row.workers),
                    *(_cell(inputs.get(key)) for key in keys),
                ]
            )
        yield (BOM if bom else "") + out.getvalue()
