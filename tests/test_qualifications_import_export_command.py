"""`manage.py qualifications import` and `export`: worker lists as CSV files."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management.base import CommandError

from qualifications_app.models import GrantedQualification, WorkerReview
from tasks_app.models import Worker
from tests.command_calls import run, run_json
from tests.factories import GrantedQualificationFactory, QualificationFactory
from tests.grants import held

pytestmark = pytest.mark.django_db

BAD_CSV = """\
provider,worker_id
mturk,A1GOOD
mturk,bad id
mturk,B2GOOD
amazon,C3
mock,alice
"""


def test_import_reads_a_csv_and_grants_everyone_in_it(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text("provider,worker_id\nmturk,A1\nmturk_sandbox,B2\n")

    out = run("qualifications", "import", "allowlist", "--csv", str(path))

    assert out.strip() == "Imported 2 worker(s) into 'allowlist' (2 new or changed)."
    assert held("allowlist") == {"mturk:A1": 1, "mturk_sandbox:B2_sandbox": 1}


def test_import_of_plain_ids_uses_provider_and_value(tmp_path):
    QualificationFactory(name="level")
    path = tmp_path / "ids.txt"
    path.write_text("A1\nB2\n")

    data = run_json(
        "qualifications", "import", "level", "--csv", str(path),
        "--provider", "prolific", "--value", "3",
    )  # fmt: skip

    assert data == {"name": "level", "workers": 2, "granted": 2, "skipped": []}
    assert held("level") == {"prolific:A1": 3, "prolific:B2": 3}
    assert set(WorkerReview.objects.values_list("reason", flat=True)) == {"imported"}


def test_import_with_bad_rows_lists_each_line_and_imports_nothing(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text(BAD_CSV)

    with pytest.raises(CommandError) as error:
        run("qualifications", "import", "allowlist", "--csv", str(path))

    message = str(error.value)
    assert "nothing imported" in message
    assert "line 3: 'bad id' is not a valid worker id" in message
    assert "line 5: unknown provider 'amazon'" in message
    assert "--skip-bad-rows" in message
    assert (Worker.objects.count(), GrantedQualification.objects.count()) == (0, 0)


def test_import_with_skip_bad_rows_imports_the_good_ones_and_reports_the_rest(
    tmp_path,
):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text(BAD_CSV)

    out = run(
        "qualifications", "import", "allowlist", "--csv", str(path), "--skip-bad-rows"
    )
    data = run_json(
        "qualifications", "import", "allowlist", "--csv", str(path), "--skip-bad-rows"
    )

    assert held("allowlist") == {"mturk:A1GOOD": 1, "mturk:B2GOOD": 1, "mock:alice": 1}
    assert "Imported 3 worker(s)" in out
    assert "Skipped bad rows:" in out and "line 3:" in out and "line 5:" in out
    assert data["granted"] == 0  # the second import changed nothing
    assert [row["line"] for row in data["skipped"]] == [3, 5]


def test_import_of_a_missing_file_is_an_error(tmp_path):
    QualificationFactory(name="allowlist")

    with pytest.raises(CommandError, match="file not found"):
        run("qualifications", "import", "allowlist", "--csv", str(tmp_path / "x.csv"))


def test_import_of_a_file_without_ids_is_an_error(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "empty.csv"
    path.write_text("provider,worker_id\n")

    with pytest.raises(CommandError, match="no worker ids found"):
        run("qualifications", "import", "allowlist", "--csv", str(path))


def test_import_into_an_unknown_qualification_is_an_error_and_writes_nothing(
    tmp_path,
):
    path = tmp_path / "workers.csv"
    path.write_text("mock:alice\n")

    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "import", "nope", "--csv", str(path))

    assert Worker.objects.count() == 0


def test_import_of_a_row_with_too_many_fields_names_the_line(tmp_path):
    QualificationFactory(name="allowlist")
    path = tmp_path / "workers.csv"
    path.write_text("provider,worker_id\nmock,alice\nmock,bob,extra\n")

    with pytest.raises(CommandError, match="line 3"):
        run("qualifications", "import", "allowlist", "--csv", str(path))


def test_export_to_stdout_is_a_csv_of_provider_worker_id_value():
    qualification = QualificationFactory(name="level")
    GrantedQualificationFactory(
        qualification=qualification,
        worker__provider_type="mturk_sandbox",
        worker__worker_name="A1_sandbox",
        value=2,
    )
    GrantedQualificationFactory(
        qualification=qualification, worker__worker_name="alice", value=1
    )

    out = run("qualifications", "export", "level")

    assert list(csv.reader(io.StringIO(out))) == [
        ["provider", "worker_id", "value"],
        ["mock", "alice", "1"],
        ["mturk_sandbox", "A1_sandbox", "2"],
    ]


def test_export_then_import_round_trips_the_list(tmp_path):
    QualificationFactory(name="pilot-allowlist")
    run(
        "qualifications", "grant", "pilot-allowlist",
        "mturk_sandbox:A1", "mturk:B2", "prolific:C3", "--value", "2",
    )  # fmt: skip
    path = tmp_path / "allowlist.csv"

    data = run_json(
        "qualifications", "export", "pilot-allowlist", "--output", str(path)
    )
    QualificationFactory(name="live-allowlist")
    run("qualifications", "import", "live-allowlist", "--csv", str(path))

    assert data == {"name": "pilot-allowlist", "workers": 3, "output": str(path)}
    assert held("live-allowlist") == {
        "mturk_sandbox:A1_sandbox": 1,
        "mturk:B2": 1,
        "prolific:C3": 1,
    }
    assert Worker.objects.count() == 3  # nobody duplicated by the round trip


def test_export_to_a_file_says_how_many_were_written(tmp_path):
    GrantedQualificationFactory(qualification__name="allowlist")
    path = tmp_path / "out.csv"

    out = run("qualifications", "export", "allowlist", "--output", str(path))

    assert out.strip() == f"Wrote 1 worker(s) to {path}."
    assert path.read_text().splitlines()[0] == "provider,worker_id,value"


def test_export_to_stdout_with_json_prints_json():
    GrantedQualificationFactory(qualification__name="allowlist")

    json.loads(run("qualifications", "export", "allowlist", "--json"))


def test_export_of_an_unknown_qualification_is_an_error():
    with pytest.raises(CommandError, match="unknown qualification 'nope'"):
        run("qualifications", "export", "nope")
