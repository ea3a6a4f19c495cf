"""`manage.py export_results`: a run's results as JSONL or CSV (DESIGN §8).

The rows are streamed from the database (tasks_app/selectors/export/), so an
export of any size runs in constant memory. With --output the file appears only
once it is complete: it is written beside its final name and renamed, so a
failure never leaves a partial file, and an existing file is replaced only by a
whole export.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from django.core.management.base import CommandError, CommandParser

from crowdsite.commands import ExamplesCommand
from tasks_app.selectors.agreement import METHODS, AgreementError
from tasks_app.selectors.export import (
    FORMATS,
    ExportError,
    ResultsExport,
    check_format,
    find_runs,
)
from tasks_app.selectors.export import parse_statuses as parse_status_filter
from tasks_app.selectors.export.aggregated import AggregatedExport

EXAMPLES = """\
Examples:
  manage.py export_results --run 12
  manage.py export_results --run 12 --output results.jsonl
  manage.py export_results --run 12 --format csv --output results.csv
  manage.py export_results --run 12 --output results.csv --bom
  manage.py export_results --task-name my-task-live-batch-1 --output batch.csv
  manage.py export_results --run 12 --status accepted --output accepted.jsonl
  manage.py export_results --run 12 --status accepted,soft_rejected --format csv
  manage.py export_results --run 12 --output results.jsonl --json
  manage.py export_results --run 12 --include-quality-units --output all.jsonl
  manage.py export_results --run 12 --aggregate rating --output labels.jsonl
  manage.py export_results --run 12 --aggregate rating --method dawid-skene --format csv

One row per submission, in run and unit order (a unit with a late submission
beside its holder's has two, the late one marked); units nobody submitted are
included (outputs null) unless --status leaves them out. A JSONL row:
  {"unit_id", "task_run_id", "task_name", "assignment_id" (crowdsite's data
  row, not MTurk's assignment), "inputs" (the data row), "outputs" (the
  submission), "files" (stored uploads), "worker": {"provider", "id"},
  "status", "review": {"decision", "feedback", "bonus", "decided_at"},
  "timings": {"accepted_at", "submitted_at", "duration_s" (the work time)},
  "late", "agent_id" (crowdsite's id of the submission), "provider_unit_id"
  (MTurk HIT id, Prolific study id), "provider_assignment_id" (MTurk
  assignment id, Prolific submission id), "reward" (dollars), "metadata"
  (what the page sent to /submit_metadata and /log_error)}
The CSV has the same fields in columns (unit_id, task_run_id, task_name,
assignment_id, worker_provider, worker_id, status, review_decision,
review_feedback, bonus, accepted_at, submitted_at, duration_s, late,
agent_id, provider_unit_id, provider_assignment_id, reward, decided_at,
metadata), then Input.<field> for every key of the data rows and
Answer.<field> for every key of the submissions, as MTurk's batch results,
then empty Approve and Reject columns for review_run --from-csv. Nested
values are JSON; numbers are written as numbers; text a spreadsheet would
run as a formula starts with a '. --bom writes a UTF-8 byte-order mark first,
so that Excel and LibreOffice read non-ASCII text right (CSV only).

Screening and gold units (made for one worker each to test them) are not
data and are left out. --include-quality-units exports them too, and then
every JSONL row ends with "quality": "screening", "gold" or null (a data
unit), and the CSV has a quality column after metadata (empty for a data
unit).

--aggregate FIELD exports one row per data row instead, its answers to FIELD
aggregated (--method majority, the default, or dawid-skene, by crowd-kit):
  {"assignment_id", "inputs", "field", "label", "confidence", "votes":
  {label: count}, "workers": ["PROVIDER:ID", ...]}
An answer is the FIELD of a data unit's submission that was not rejected (the
unit holder's); a tie goes to the first tied label by its JSON text, with the
confidence (its share of the votes) showing it; a row with one answer gets it
with confidence 1.0; a row nobody answered has label and confidence null. The
CSV has assignment_id, field, label, confidence, votes, workers, then
Input.<field>. Screening and gold units never count. --status and
--include-quality-units don't apply to it.

Without --format the format follows --output's suffix (.csv: CSV), else JSONL.
Without --output the export is written to standard output. With --output the
file appears only when complete (written beside it, then renamed); --json then
prints one JSON object: {"format", "output", "rows", "runs"}.
Unit statuses: created, launched, assigned, completed, accepted, rejected,
soft_rejected, expired.
"""


class Command(ExamplesCommand):
    help = "Export a run's results (or every run of a task) as JSONL or CSV."

    examples = EXAMPLES

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--run", type=int, metavar="N", help="The task run id.")
        which.add_argument(
            "--task-name",
            metavar="NAME",
            help="Every run of this task_name, one after the other.",
        )
        # Checked by handle(), so a bad value is a CommandError (exit status 1).
        parser.add_argument(
            "--format",
            metavar="{jsonl,csv}",
            help="jsonl (one JSON object a line) or csv; default: from --output's "
            "suffix, else jsonl.",
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="Write here (replaced only once the export is complete); "
            "default: standard output.",
        )
        parser.add_argument(
            "--status",
            action="append",
            default=[],
            metavar="STATUS",
            help="Only units in this status (repeat it, or list them with commas).",
        )
        parser.add_argument(
            "--bom",
            action="store_true",
            help="CSV only: write a UTF-8 byte-order mark first, so that Excel and "
            "LibreOffice read non-ASCII text right.",
        )
        parser.add_argument(
            "--include-quality-units",
            action="store_true",
            help="Export the screening and gold units too (left out otherwise), "
            'each row marked by "quality".',
        )
        parser.add_argument(
            "--aggregate",
            metavar="FIELD",
            help="One row per data row: its answers to FIELD aggregated.",
        )
        parser.add_argument(
            "--method",
            metavar="{majority,dawid-skene}",
            help="With --aggregate: how the answers are aggregated (default majority).",
        )
        parser.add_argument(
            "--json",
            action="store_true",
            help='With --output: print {"format", "output", "rows", "runs"}.',
        )

    def handle(self, *args, **options) -> None:
        output = Path(options["output"]) if options["output"] else None
        format = _format(options["format"], output)
        bom = options["bom"]
        try:
            check_format(format, bom=bom)
        except ExportError as exc:
            raise CommandError(f"--bom: {exc}; nothing was written") from None
        if options["json"] and output is None:
            raise CommandError(
                "--json needs --output: without it the export itself is written "
                "to standard output, and a summary would be mixed into it"
            )
        try:
            statuses = parse_status_filter(options["status"])
            run_ids = find_runs(run_id=options["run"], task_name=options["task_name"])
        except ExportError as exc:
            raise CommandError(f"{exc}; nothing was written") from None
        export: ResultsExport | AggregatedExport
        if options["aggregate"] is not None:
            export = _aggregated(options, run_ids)
        else:
            if options["method"] is not None:
                raise CommandError(
                    "--method goes with --aggregate FIELD (it says how the answers "
                    "are aggregated); nothing was written"
                )
            export = ResultsExport(
                run_ids=run_ids,
                statuses=statuses,
                include_quality_units=options["include_quality_units"],
            )
        try:
            if output is None:
                for chunk in export.chunks(format, bom=bom):
                    self.stdout.write(chunk, ending="")
                return
            _write_whole(output, export.chunks(format, bom=bom))
        except AgreementError as exc:
            raise CommandError(f"--aggregate: {exc}; nothing was written") from None
        if options["json"]:
            summary = {
                "format": format,
                "output": str(output),
                "rows": export.rows,
                "runs": list(run_ids),
            }
            self.stdout.write(json.dumps(summary))
        else:
            runs = ", ".join(str(run_id) for run_id in run_ids)
            self.stdout.write(
                f"Wrote {export.rows} row(s) of run(s) {runs} to {output} ({format})."
            )


def _aggregated(options: dict, run_ids: list[int]) -> AggregatedExport:
    """The aggregated export the options ask for, or a CommandError."""
    field = options["aggregate"].strip()
    if not field:
        raise CommandError("--aggregate needs an output field; nothing was written")
    for flag, given in (
        ("--status", options["status"]),
        ("--include-quality-units", options["include_quality_units"]),
    ):
        if given:
            raise CommandError(
                f"{flag} doesn't apply to --aggregate (it exports one row per data "
                "row, from the data units' answers that were not rejected); "
                "nothing was written"
            )
    method = options["method"] or "majority"
    if method not in METHODS:
        raise CommandError(
            f"--method {method!r}: not an aggregation method; valid: "
            f"{', '.join(METHODS)}; nothing was written"
        )
    return AggregatedExport(run_ids=run_ids, field=field, method=method)


def _format(given: str | None, output: Path | None) -> str:
    if given is None:
        return (
            "csv" if output is not None and output.suffix.lower() == ".csv" else "jsonl"
        )
    if given not in FORMATS:
        raise CommandError(
            f"--format {given!r}: not an export format; valid: {', '.join(FORMATS)}; "
            "nothing was written"
        )
    return given


def _write_whole(output: Path, chunks) -> None:
    """Write `chunks` to `output` through a temporary file beside it, renamed
    onto it once complete; on any failure the temporary file is removed."""
    if output.is_dir():
        raise CommandError(f"--output {output}: is a directory; nothing was written")
    directory = output.parent
    if not directory.is_dir():
        raise CommandError(
            f"--output {output}: directory {str(directory)!r} does not exist; "
            "nothing was written"
        )
    try:
        descriptor, temporary = tempfile.mkstemp(
            dir=directory, prefix=f".{output.name}.", suffix=".part"
        )
    except OSError as exc:
        raise CommandError(
            f"--output {output}: can't write in {str(directory)!r} "
            f"({exc.strerror}); nothing was written"
        ) from None
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
            for chunk in chunks:
                file.write(chunk)
        # mkstemp makes the file private (0600); give it the mode a new file
        # would get (or the mode of the file it replaces).
        os.chmod(temporary, _mode_for(output))
        os.replace(temporary, output)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise CommandError(
            f"--output {output}: {exc.strerror or exc}; nothing was written"
        ) from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _mode_for(output: Path) -> int:
    try:
        return output.stat().st_mode & 0o777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
