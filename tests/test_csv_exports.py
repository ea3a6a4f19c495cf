"""Every CSV the site writes opens in a spreadsheet as data, never as a formula."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from crowdsite.csv_safety import escape_formula
from tests.factories import GrantedQualificationFactory, QualificationFactory

pytestmark = pytest.mark.django_db

# Worker names as a crowd page may register them, and how the export must write them.
FORMULAS = {
    '=HYPERLINK("http://x")': '\'=HYPERLINK("http://x")',
    "+1": "'+1",
    "-2+3": "'-2+3",
    "@SUM(A1)": "'@SUM(A1)",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
}
PLAIN = ["alice", "A1B2C3D4E5", "bob=1", "x-2"]


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def qualification():
    qualification = QualificationFactory(name="risky")
    for name in [*FORMULAS, *PLAIN]:
        GrantedQualificationFactory(
            qualification=qualification, worker__worker_name=name, value=1
        )
    return qualification


def exported_names(text: str) -> set[str]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["provider", "worker_id", "value"]
    return {row[1] for row in rows[1:]}


def expected_names() -> set[str]:
    return {*FORMULAS.values(), *PLAIN}


@pytest.mark.parametrize(("value", "escaped"), FORMULAS.items())
def test_a_cell_that_starts_a_formula_gets_a_quote_in_front(value, escaped):
    assert escape_formula(value) == escaped


@pytest.mark.parametrize("value", [*PLAIN, "", None, 0, 7, "'=1"])
def test_a_cell_that_starts_no_formula_is_unchanged(value):
    assert escape_formula(value) == value


@pytest.mark.parametrize("number", [-5, -0.25, Decimal("-1.50"), 10**20, 0.0])
def test_a_number_is_never_escaped_a_negative_one_included(number):
    assert escape_formula(number) is number


@pytest.mark.parametrize("text", ["-5", "+1", "-0.25"])
def test_a_number_written_as_text_is_escaped(text):
    assert escape_formula(text) == "'" + text


@pytest.mark.parametrize("value", [float("-inf"), Decimal("-Infinity")])
def test_a_negative_infinity_is_no_number_and_is_escaped_as_its_text(value):
    assert escape_formula(value) == "'" + str(value)


def test_the_admin_export_escapes_formulas(admin_client, qualification):
    url = f"/admin/qualifications_app/qualification/{qualification.pk}/export.csv"

    response = admin_client.get(url)

    text = b"".join(response.streaming_content).decode()
    assert exported_names(text) == expected_names()


def test_the_export_command_escapes_formulas_on_standard_output(qualification):
    out = io.StringIO()

    call_command("qualifications", "export", "risky", stdout=out)

    assert exported_names(out.getvalue()) == expected_names()


def test_the_export_command_escapes_formulas_in_a_file(qualification, tmp_path):
    path = tmp_path / "risky.csv"

    call_command("qualifications", "export", "risky", "--output", str(path))

    assert exported_names(path.read_bytes().decode()) == expected_names()


def test_a_negative_value_is_exported_as_a_number():
    qualification = QualificationFactory(name="scores")
    GrantedQualificationFactory(
        qualification=qualification, worker__worker_name="alice", value=-5
    )
    out = io.StringIO()

    call_command("qualifications", "export", "scores", stdout=out)

    assert list(csv.reader(io.StringIO(out.getvalue())))[1] == ["mock", "alice", "-5"]


# Formulas a check of the first character alone lets through: behind whitespace
# (that an importer or a tidy-up may trim), or in a form a spreadsheet may take
# for the ASCII sign.
HIDDEN_FORMULAS = [
    "\n=1+1",
    " =1+1",
    "  +1",
    "\r\n=1",
    "\n\t-1",
    "\u3000=1",  # an ideographic (full-width) space
    "\uff1d1+1",  # ＝ full-width equals
    "\uff0b1",  # ＋ full-width plus
    "\uff0d1",  # － full-width hyphen-minus
    "\uff20SUM(A1)",  # ＠ full-width commercial at
    " \uff1d1",
    "\ufe661",  # ﹦ small equals
    "\u207a1",  # ⁺ superscript plus
]
# Text whose first character other than whitespace starts no formula, whatever
# follows it.
STILL_PLAIN = [
    " alice",
    "\nbob=1",
    " x-2",
    "\uff41=1",  # ａ full-width a
    "\u65e5\u672c",  # 日本
    "\xe9=1",  # é
    " ",
    "\n",
]


@pytest.mark.parametrize("value", HIDDEN_FORMULAS)
def test_a_formula_behind_whitespace_or_in_a_full_width_form_gets_a_quote_in_front(
    value,
):
    assert escape_formula(value) == "'" + value


@pytest.mark.parametrize("value", STILL_PLAIN)
def test_text_whose_first_visible_character_starts_no_formula_is_unchanged(value):
    assert escape_formula(value) == value


def test_a_cell_starting_with_a_tab_or_cr_is_escaped_whatever_follows():
    assert [escape_formula(v) for v in ["\t", "\tok", "\rok"]] == [
        "'\t",
        "'\tok",
        "'\rok",
    ]
