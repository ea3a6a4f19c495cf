"""Reading a review CSV: the export's CSV with its `Approve` and `Reject`
columns filled in (csv_review.py checks what it asks against the run).

Only the file is looked at here: its encoding (UTF-8, a byte-order mark
dropped), its separator (Excel writes `;` in some locales), its header, and each
row on its own (a unit id that is no number, both columns filled, a rejection
without text, a row cut short). Rows with both columns empty are counted and
left out.
"""

from __future__ import annotations

import csv
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tasks_app.exceptions import ReviewError

APPROVE = "approve"
REJECT = "reject"
# The export's columns this reads; `agent_id` names the submission when a unit
# has two (a late one beside its holder's).
UNIT_COLUMN, AGENT_COLUMN = "unit_id", "agent_id"
APPROVE_COLUMN, REJECT_COLUMN = "Approve", "Reject"
REQUIRED_COLUMNS = (UNIT_COLUMN, APPROVE_COLUMN, REJECT_COLUMN)
# Excel saves "CSV" with the list separator of the computer's locale: `;`
# where the decimal separator is a comma. Tab: a sheet saved as text.
DELIMITERS = (",", ";", "\t")
# A cell holds a whole data row or submission; the csv module's own limit
# (128 KiB) would refuse a long answer.
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
_NUMBER = re.compile(r"[0-9]{1,18}")


class CsvFileError(ReviewError):
    """The file can't be read as the export's CSV at all: nothing of it is
    checked further. Says the file and the line."""

    def __init__(self, source: str, line: int, problem: str) -> None:
        super().__init__(f"{source}: line {line}: {problem}; nothing was written")
        self.line = line


@dataclass(frozen=True)
class Requested:
    """A row with a decision filled in: its line, the unit (and agent) it
    names, and what it asks for."""

    line: int
    unit_id: int
    agent_id: int | None
    action: str
    feedback: str = ""


@dataclass(frozen=True)
class RowRefusal:
    """A row the file is refused for: its line, the unit id as written, why."""

    line: int
    unit_id: int | str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.line, "unit_id": self.unit_id, "error": self.error}


@dataclass
class ReviewCsv:
    """What a review CSV holds: its rows read (blank lines not counted), the
    rows left blank, the filled rows, and the rows refused on their own."""

    rows: int = 0
    skipped: int = 0
    requests: list[Requested] = field(default_factory=list)
    refused: list[RowRefusal] = field(default_factory=list)

    def refuse(self, line: int, unit_id: int | str | None, error: str) -> None:
        self.refused.append(RowRefusal(line, unit_id, error))


def read_review_csv(file: Iterable[bytes], *, source: str) -> ReviewCsv:
    """The filled rows of the review CSV `file` (bytes, line by line; `source`
    names it in messages), its counts, and the rows refused on their own.

    A file that can't be read as the export's CSV (not UTF-8, empty, no
    `unit_id`/`Approve`/`Reject` header, broken quoting) raises CsvFileError.
    """
    read = ReviewCsv()
    lines = _decoded_lines(file, source)
    first = next(lines, None)
    if first is None or not first.strip():
        raise CsvFileError(
            source,
            1,
            "the file is empty; expected the export's CSV (export_results "
            "--format csv), its first line the header with unit_id, Approve "
            "and Reject",
        )
    if csv.field_size_limit() < FIELD_SIZE_LIMIT:
        csv.field_size_limit(FIELD_SIZE_LIMIT)
    reader = csv.reader(
        itertools.chain([first], lines), delimiter=_delimiter(first), strict=True
    )
    last = 0  # the last line the reader consumed
    try:
        header = next(reader)
        last = reader.line_num
        columns = _columns(header, source)
        for cells in reader:
            line, last = last + 1, reader.line_num
            if cells:
                read.rows += 1
                _read_row(read, line, cells, columns, len(header))
    except csv.Error as exc:
        raise CsvFileError(
            source,
            last + 1,
            f"not valid CSV ({exc}): a quoted cell that is never closed means "
            "the file was cut short",
        ) from None
    return read


def _decoded_lines(file: Iterable[bytes], source: str) -> Iterator[str]:
    """The file's lines as text, each kept whole (its line break too), a
    leading byte-order mark dropped. UTF-8 never puts a newline byte inside a
    character, so splitting before decoding is safe."""
    for number, raw in enumerate(file, start=1):
        if number == 1 and raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise CsvFileError(
                source,
                1,
                "the file is UTF-16 text (Excel's 'Unicode Text'); save it as "
                "'CSV UTF-8' instead",
            )
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise CsvFileError(
                source,
                number,
                f"not UTF-8 text (byte {raw[exc.start]:#04x} at column "
                f"{exc.start + 1}); save the sheet as 'CSV UTF-8'",
            ) from None


def _delimiter(header_line: str) -> str:
    """The separator the header is written with: the one that makes a
    `unit_id` column of it (a comma if none does; the header check says so)."""
    for delimiter in DELIMITERS:
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        if any(cell.strip().lower() == UNIT_COLUMN for cell in cells):
            return delimiter
    return ","


def _columns(header: list[str], source: str) -> dict[str, int]:
    """Where the header puts the columns this reads (names matched whatever
    their case, around spaces)."""
    wanted = {name.lower(): name for name in (*REQUIRED_COLUMNS, AGENT_COLUMN)}
    found: dict[str, int] = {}
    for index, cell in enumerate(header):
        name = wanted.get(cell.strip().lower())
        if name is None:
            continue
        if name in found:
            raise CsvFileError(
                source, 1, f"the header has two {name} columns; keep one"
            )
        found[name] = index
    missing = [name for name in REQUIRED_COLUMNS if name not in found]
    if missing:
        raise CsvFileError(
            source,
            1,
            f"the header has no {', '.join(missing)} column"
            f"{'s' if len(missing) > 1 else ''}; expected the export's CSV "
            "(export_results --run N --format csv) with its Approve and Reject "
            "columns filled in",
        )
    return found


def _read_row(
    read: ReviewCsv,
    line: int,
    cells: list[str],
    columns: dict[str, int],
    width: int,
) -> None:
    if len(cells) != width:
        read.refuse(
            line,
            None,
            f"the row has {len(cells)} cells where the header has {width}: the "
            "file may have been cut short, or a cell's quotes are unbalanced",
        )
        return
    approve = cells[columns[APPROVE_COLUMN]]
    reject = cells[columns[REJECT_COLUMN]]
    if not approve and not reject:
        read.skipped += 1
        return
    unit_text = cells[columns[UNIT_COLUMN]].strip()
    if not _NUMBER.fullmatch(unit_text):
        read.refuse(line, unit_text or None, f"unit_id {unit_text!r} is not a unit id")
        return
    unit_id = int(unit_text)
    agent_id = None
    if AGENT_COLUMN in columns:
        agent_text = cells[columns[AGENT_COLUMN]].strip()
        if agent_text and not _NUMBER.fullmatch(agent_text):
            read.refuse(line, unit_id, f"agent_id {agent_text!r} is not an agent id")
            return
        agent_id = int(agent_text) if agent_text else None
    approve, reject = approve.strip(), reject.strip()
    if approve and reject:
        read.refuse(
            line,
            unit_id,
            "both Approve and Reject are filled in; clear one of them",
        )
    elif approve:
        read.requests.append(Requested(line, unit_id, agent_id, APPROVE))
    elif reject:
        read.requests.append(Requested(line, unit_id, agent_id, REJECT, reject))
    elif cells[columns[REJECT_COLUMN]]:
        read.refuse(
            line,
            unit_id,
            "reject without text: Reject holds only spaces, and a rejection "
            "needs feedback for the worker (why the work was refused)",
        )
    else:
        read.refuse(
            line,
            unit_id,
            "Approve holds only spaces: write x to approve, or clear the cell",
        )
