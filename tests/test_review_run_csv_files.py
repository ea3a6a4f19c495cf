"""`review_run --from-csv` reads the files spreadsheets save (a byte-order mark,
semicolons, CRLF, cells over several lines) and refuses, naming the file and the
line, one it can't read (not UTF-8, empty, no Approve column, cut short)."""

from __future__ import annotations

import pytest

from tasks_app.models import AgentStatus, UnitStatus
from tests.review_run_calls import (
    CSV_HEADER,
    csv_row,
    decisions_written,
    from_csv,
    pilot,
    review_csv,
    statuses,
)

pytestmark = pytest.mark.django_db


def test_a_byte_order_mark_at_the_start_is_read_past(tmp_path):
    task_run, units = pilot(["alice"])
    path = review_csv(tmp_path, [csv_row(units["alice"], Approve="x")], bom=True)

    report, error = from_csv(task_run, path)

    assert error is None
    assert report["approved"] == [units["alice"].pk]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_a_sheet_saved_with_semicolons_or_tabs_is_read(tmp_path, delimiter):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Approve="x"),
            csv_row(units["bob"], Reject="Empty; nothing chosen"),
        ],
        delimiter=delimiter,
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert (report["approved"], report["rejected"]) == (
        [units["alice"].pk],
        [units["bob"].pk],
    )


def test_cells_over_several_lines_keep_the_lines_of_the_rows_after_them(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    path = review_csv(
        tmp_path,
        [
            csv_row(units["alice"], Reject="Two problems:\n1. empty\n2. late"),
            {"unit_id": "x", "Approve": "x"},
        ],
    )

    report, error = from_csv(task_run, path)

    assert error is not None
    assert [(r["row"], r["unit_id"]) for r in report["refused"]] == [(5, "x")]


def test_crlf_line_ends_are_read(tmp_path):
    task_run, units = pilot(["alice"])
    path = tmp_path / "windows.csv"
    path.write_bytes(f"unit_id,Approve,Reject\r\n{units['alice'].pk},x,\r\n".encode())

    report, error = from_csv(task_run, str(path))

    assert error is None
    assert report["approved"] == [units["alice"].pk]


def test_column_names_are_matched_whatever_their_case_or_padding(tmp_path):
    task_run, units = pilot(["alice"])
    path = review_csv(
        tmp_path,
        [{"Unit_ID ": units["alice"].pk, " approve": "x"}],
        header=("Unit_ID ", " approve", "REJECT"),
    )

    report, error = from_csv(task_run, path)

    assert error is None
    assert report["approved"] == [units["alice"].pk]


def file_refused(tmp_path, content: bytes, name="review.csv") -> tuple[dict, str]:
    task_run, units = pilot(["alice"])
    path = tmp_path / name
    path.write_bytes(content.replace(b"UNIT", str(units["alice"].pk).encode()))

    report, error = from_csv(task_run, str(path))

    assert error is not None and error.returncode == 1
    assert statuses(units)["alice"] == (UnitStatus.COMPLETED, AgentStatus.COMPLETED)
    assert decisions_written() == (0, 0, 0, 0)
    (refusal,) = report["refused"]
    assert refusal["error"] == str(error)
    assert (report["approved"], report["rejected"]) == ([], [])
    return refusal, str(error)


def test_a_file_not_in_utf8_is_refused_at_its_line(tmp_path):
    refusal, error = file_refused(
        tmp_path, b"unit_id,Approve,Reject\nUNIT,,\nUNIT,,Mauvais r\xe9sultat\n"
    )

    assert refusal["row"] == 3
    assert error.startswith(f"{tmp_path / 'review.csv'}: line 3: not UTF-8 text")
    assert "byte 0xe9" in error and "'CSV UTF-8'" in error
    assert error.endswith("nothing was written")


def test_a_utf16_file_is_refused_saying_how_to_save_it(tmp_path):
    refusal, error = file_refused(
        tmp_path, "unit_id\tApprove\tReject\nUNIT\tx\t\n".encode("utf-16")
    )

    assert refusal["row"] == 1
    assert "UTF-16" in error and "'CSV UTF-8'" in error


@pytest.mark.parametrize("content", [b"", b"\n\n"])
def test_an_empty_file_is_refused(tmp_path, content):
    _, error = file_refused(tmp_path, content)

    assert "the file is empty" in error


def test_a_file_without_the_approve_and_reject_columns_is_refused(tmp_path):
    refusal, error = file_refused(tmp_path, b"unit_id,status\nUNIT,completed\n")

    assert refusal["row"] == 1
    assert "line 1: the header has no Approve, Reject columns" in error
    assert "export_results --run N --format csv" in error


def test_a_header_naming_a_column_twice_is_refused(tmp_path):
    _, error = file_refused(tmp_path, b"unit_id,Approve,Reject,approve\nUNIT,x,,\n")

    assert "line 1: the header has two Approve columns" in error


def test_a_file_cut_short_inside_a_quoted_cell_is_refused(tmp_path):
    refusal, error = file_refused(
        tmp_path, b'unit_id,Approve,Reject\nUNIT,,"The answer is\nempty and'
    )

    assert refusal["row"] == 2
    assert "line 2: not valid CSV" in error and "cut short" in error


def test_a_last_row_cut_short_refuses_the_file(tmp_path):
    task_run, units = pilot(["alice", "bob"])
    path = tmp_path / "cut.csv"
    header = ",".join(CSV_HEADER)
    path.write_text(
        f"{header}\n{units['alice'].pk},{task_run.pk},alice,,good,x,\n"
        f"{units['bob'].pk},{task_run.pk},b"
    )

    report, error = from_csv(task_run, str(path))

    assert error is not None
    assert report["refused"] == [
        {
            "row": 3,
            "unit_id": None,
            "error": "the row has 3 cells where the header has 7: the file may "
            "have been cut short, or a cell's quotes are unbalanced",
        }
    ]
    assert decisions_written() == (0, 0, 0, 0)


def test_a_file_with_only_its_header_decides_nothing(tmp_path):
    task_run, _ = pilot(["alice"])
    path = review_csv(tmp_path, [])

    report, error = from_csv(task_run, path)

    assert error is None
    assert (report["rows"], report["approved"], report["refused"]) == (0, [], [])
