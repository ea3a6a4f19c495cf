"""parse_worker_list: pasted ids and CSV files read into workers, bad lines named."""

from __future__ import annotations

import pytest

from providers.registry import WorkerRef
from qualifications_app.models import GrantedQualification
from qualifications_app.services import bulk_grant, parse_worker_list
from tasks_app.models import Worker
from tests.factories import QualificationFactory
from tests.grants import held

pytestmark = pytest.mark.django_db


def test_pasted_lines_are_read_with_blank_lines_and_comments_skipped():
    text = "mock:alice\n\n# pilot 1 winners\n  mturk:A1B2C3  \nprolific:5f1c,extra\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [
        WorkerRef("mock", "alice"),
        WorkerRef("mturk", "A1B2C3"),
        WorkerRef("prolific", "5f1c"),
    ]
    assert parsed.errors == []


def test_pasted_ids_without_a_provider_use_the_default_provider():
    parsed = parse_worker_list("A1B2C3\nmock:alice\n", default_provider="mturk")

    assert parsed.refs == [WorkerRef("mturk", "A1B2C3"), WorkerRef("mock", "alice")]


def test_bad_pasted_lines_are_reported_with_their_line_numbers():
    text = "mock:alice\nA1B2C3\nnope:bob\nmock:has space\nmock:carol\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [WorkerRef("mock", "alice"), WorkerRef("mock", "carol")]
    assert [number for number, _ in parsed.errors] == [2, 3, 4]
    assert "is not PROVIDER:ID" in parsed.errors[0][1]
    assert "unknown provider 'nope'" in parsed.errors[1][1]
    assert "'has space' is not a valid worker id" in parsed.errors[2][1]


def test_a_csv_with_a_provider_worker_id_header_is_read_by_column():
    text = "Provider, Worker_ID ,value\nmturk,A1B2C3,1\nmock,alice,3\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [WorkerRef("mturk", "A1B2C3"), WorkerRef("mock", "alice")]
    assert parsed.errors == []


def test_a_csv_with_a_worker_column_is_read():
    text = "note,worker\ngood,mock:alice\nbad,mock:\nok,A1B2\n"

    parsed = parse_worker_list(text, default_provider="mturk")

    assert parsed.refs == [WorkerRef("mock", "alice"), WorkerRef("mturk", "A1B2")]
    assert [number for number, _ in parsed.errors] == [3]


def test_bad_csv_rows_are_reported_with_their_line_numbers():
    text = "provider,worker_id\nmock,alice\nmock,bad id\nnope,bob\n,\nmock,carol\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [WorkerRef("mock", "alice"), WorkerRef("mock", "carol")]
    assert [number for number, _ in parsed.errors] == [3, 4]


def test_bad_csv_rows_after_a_blank_line_keep_their_real_line_number():
    text = "provider,worker_id\nmock,alice\n\nmock,bad id\n"

    parsed = parse_worker_list(text)

    assert parsed.errors == [(4, "'bad id' is not a valid worker id")]


def test_a_csv_row_with_too_many_values_is_a_bad_line_not_a_crash():
    text = "provider,worker_id,value\nmock,alice,1\nmock,bob,1,extra\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [WorkerRef("mock", "alice")]
    assert [number for number, _ in parsed.errors] == [3]


def test_a_worker_id_header_is_never_taken_for_a_worker():
    parsed = parse_worker_list("worker_id\nA1B2C3\n", default_provider="mturk")

    assert WorkerRef("mturk", "worker_id") not in parsed.refs


def test_mturk_sandbox_ids_get_the_sandbox_suffix_once():
    text = "mturk_sandbox:A1B2C3\nmturk_sandbox:D4E5F6_sandbox\nmturk:A1B2C3\n"

    parsed = parse_worker_list(text)

    assert parsed.refs == [
        WorkerRef("mturk_sandbox", "A1B2C3_sandbox"),
        WorkerRef("mturk_sandbox", "D4E5F6_sandbox"),
        WorkerRef("mturk", "A1B2C3"),
    ]


def test_reimporting_an_export_does_not_double_the_sandbox_suffix():
    QualificationFactory(name="allowlist")
    bulk_grant(name="allowlist", refs=parse_worker_list("mturk_sandbox:A1B2C3").refs)
    exported = "provider,worker_id,value\r\n" + "".join(
        f"{provider},{name},{value}\r\n"
        for provider, name, value in GrantedQualification.objects.values_list(
            "worker__provider_type", "worker__worker_name", "value"
        )
    )

    bulk_grant(name="allowlist", refs=parse_worker_list(exported).refs)

    assert held("allowlist") == {"mturk_sandbox:A1B2C3_sandbox": 1}
    assert Worker.objects.count() == 1
