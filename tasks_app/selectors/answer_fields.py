"""The output fields a run's answers have: the keys of its data units'
submissions, read in SQL without loading the submissions (the run dashboard
offers them for its agreement figures)."""

from __future__ import annotations

from django.db import connection

from tasks_app.models import Agent, TaskRun, Unit
from tasks_app.worker_sql import table


def answer_fields(*, run: TaskRun, limit: int | None = None) -> list[str]:
    """The keys of the submissions to `run`'s data units, sorted; of the first
    `limit` submissions only, when given. A submission with files is
    stored as {"final_data", "files"}: its keys are final_data's, as
    selectors.agreement reads its answers."""
    # The object whose keys count (NULL when it is not an object).
    if connection.vendor == "postgresql":
        outputs = (
            "CASE WHEN ag.submission ? 'files' THEN CASE WHEN "
            "jsonb_typeof(ag.submission -> 'final_data') = 'object' "
            "THEN ag.submission -> 'final_data' END "
            "WHEN jsonb_typeof(ag.submission) = 'object' THEN ag.submission END"
        )
        each = "CROSS JOIN LATERAL jsonb_object_keys(s.outputs) AS k(key)"
    else:
        outputs = (
            "CASE WHEN json_type(ag.submission, '$.files') IS NOT NULL THEN CASE "
            "WHEN json_type(ag.submission, '$.final_data') = 'object' "
            "THEN json_extract(ag.submission, '$.final_data') END "
            "WHEN json_type(ag.submission) = 'object' THEN ag.submission END"
        )
        each = "JOIN json_each(s.outputs) AS k"
    bound = ""
    if limit is not None:
        # Read in the order of agent_registration_unique_per_run, which has
        # the run's agents first: a fixed cost, whatever the run's size.
        bound = f"ORDER BY ag.registration_id LIMIT {int(limit)}"
    query = (
        f"SELECT DISTINCT k.key FROM (SELECT {outputs} AS outputs "
        f"FROM {table(Agent)} ag JOIN {table(Unit)} u ON u.id = ag.unit_id "
        "WHERE ag.run_id = %s AND ag.submitted_at IS NOT NULL "
        f"AND u.unit_index >= 0 {bound}) s {each}"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [run.pk])
        return sorted(key for (key,) in cursor.fetchall())
