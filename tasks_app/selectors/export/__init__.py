"""A run's results read for export, one row per submission, as JSONL or CSV
(DESIGN §8).

`manage.py export_results` and the run's admin downloads stream what this package
yields. It only reads. Rows come from one SELECT (sql.py) that joins each unit to
its assignment, the agent whose submission it exports, that agent's worker, review
decision and bonuses, read through a chunked cursor (a server-side cursor on
PostgreSQL), so an export takes a fixed number of queries and constant memory
whatever the number of units. The CSV's `Input.` and `Answer.` columns are found
first by a query that reads only the JSON keys. Both statements run in one
snapshot, so the header always has a column for every key the rows hold. rows.py
writes a row as a JSONL line or as CSV cells; results.py says what is exported.

The agents exported for a unit: every one that submitted, a row each, the first
the one its review decision is about, else its holder's (the worker the unit is
assigned to), else an on-time one, else the latest; a unit nobody submitted shows
its holder's agent, still working, or no agent at all (outputs null). Each row's
agent, provider, review and timing columns are its own agent's.

Screening and gold units (unit_index < 0) are not data: an export leaves them out
unless asked to include them, and then marks each row's kind (`quality`).
"""

from tasks_app.selectors.export.results import (
    BOM,
    CHUNK_SIZE,
    CONTENT_TYPES,
    CSV_COLUMNS,
    FORMATS,
    OFFLINE_REVIEW_COLUMNS,
    QUALITY_COLUMN,
    STATUSES,
    ExportError,
    ResultsExport,
    check_format,
    content_type,
    find_runs,
    parse_statuses,
)
from tasks_app.selectors.export.rows import ExportRow
from tasks_app.selectors.export.sql import snapshot

__all__ = [
    "BOM",
    "CHUNK_SIZE",
    "CONTENT_TYPES",
    "CSV_COLUMNS",
    "FORMATS",
    "OFFLINE_REVIEW_COLUMNS",
    "QUALITY_COLUMN",
    "STATUSES",
    "ExportError",
    "ExportRow",
    "ResultsExport",
    "check_format",
    "content_type",
    "find_runs",
    "parse_statuses",
    "snapshot",
]
