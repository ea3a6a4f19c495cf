"""Amounts of money a person types: plain ASCII decimals only, refused in words."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crowdsite.money import parse_dollars
from tasks_app.exceptions import ReviewError
from tasks_app.run_config import ConfigError, load_run_config
from tasks_app.services.review import parse_amount
from tests.conftest import EXAMPLE_CONF


@pytest.mark.parametrize(
    "value, expected",
    [
        ("0.50", Decimal("0.50")),
        ("12", Decimal("12")),
        ("12.5", Decimal("12.5")),
        (" 3.25\n", Decimal("3.25")),
        (Decimal("1.25"), Decimal("1.25")),
        (7, Decimal("7")),
        # A float is a number already: its shortest repr, not str()'s "1e-05".
        (0.1, Decimal("0.1")),
        (1e-05, Decimal("0.00001")),
        ("999999999999.99", Decimal("999999999999.99")),
    ],
)
def test_plain_decimal_amounts_are_read_exactly(value, expected):
    assert parse_dollars(value, what="the amount") == expected


@pytest.mark.parametrize(
    "value, message",
    [
        (
            "1_000",
            "'1_000' is not a number in plain decimal digits such as 12.50: "
            "'_' is not allowed: write 1000, not 1_000",
        ),
        ("1,000", "',' is not allowed: write 1000 (not 1,000) and 12.50 (not 12,50)"),
        ("٥", "'٥' (ARABIC-INDIC DIGIT FIVE) is not one of the digits 0-9"),
        ("５", "'５' (FULLWIDTH DIGIT FIVE) is not one of the digits 0-9"),
        (
            "1e2",
            "'1e2' is not a number in plain decimal digits such as 12.50: it "
            "has an exponent ('e'); write 100 instead",
        ),
        ("1E-2", "it has an exponent ('e'); write 0.01 instead"),
        ("1e40", "it has an exponent ('e'), and 1e40 is too large"),
        ("Infinity", "the amount must be a finite number (got Infinity)"),
        ("-inf", "the amount must be a finite number (got -inf)"),
        ("NaN", "the amount must be a finite number (got NaN)"),
        ("", "the amount is empty: give an amount such as 12.50"),
        (" ", "the amount is empty: give an amount such as 12.50"),
        (
            "1.2.3",
            "'1.2.3' is not a number in plain decimal digits such as 12.50: "
            "it has more than one '.'",
        ),
        ("0x10", "'x' is not allowed: use only the digits 0-9 and one '.'"),
        ("+1", "'+' is not allowed: use only the digits 0-9 and one '.'"),
        ("1.", "write digits after the '.' (12.50) or no '.' (12)"),
        (".5", "write a digit before the '.' (0.50, not .50)"),
        ("\u200b1", "'\\u200b' is not allowed"),
        (
            "1" * 40,
            f"the amount '{'1' * 40}' is too large: at most 12 digits before the '.'",
        ),
        ("1" * 41, "is 41 characters long; an amount is at most 40"),
        (Decimal("NaN"), "the amount must be a finite number (got NaN)"),
        (Decimal("1E+20"), "the amount 1E+20 is too large"),
        (float("inf"), "the amount must be a finite number (got inf)"),
        (1e300, "the amount 1e+300 is too large"),
        (True, "the amount must be a number, not True"),
    ],
)
def test_anything_but_a_plain_decimal_is_refused_saying_what_is_wrong(value, message):
    with pytest.raises(ValueError) as refused:
        parse_dollars(value, what="the amount")

    assert message in str(refused.value)


def test_a_negative_amount_is_read_so_the_caller_can_refuse_it_in_its_words():
    assert parse_dollars("-1", what="the amount") == Decimal("-1")

    with pytest.raises(ReviewError, match=r"must be more than 0 \(got -1\)"):
        parse_amount("-1")


@pytest.mark.parametrize(
    "amount", ["1_000", "٥", "５", "1e2", "1E-2", "Infinity", "NaN", "1" * 40]
)
def test_a_bonus_amount_is_refused_by_the_same_parser(amount):
    with pytest.raises(ReviewError, match="the bonus amount"):
        parse_amount(amount)


@pytest.mark.parametrize(
    "amount, message",
    [
        ("0", "the bonus amount must be more than 0 (got 0)"),
        (
            "0.005",
            "the bonus amount is paid in whole cents (got 0.005); did you mean 0.01?",
        ),
        ("100000000", "the bonus amount 100000000 is too large to be paid"),
        ("999999999999.999", "the bonus amount 999999999999.999 is too large"),
    ],
)
def test_a_bonus_amount_keeps_its_own_rules(amount, message):
    with pytest.raises(ReviewError) as refused:
        parse_amount(amount)

    assert message in str(refused.value)


def test_a_bonus_amount_is_whole_cents():
    assert parse_amount("12.5") == Decimal("12.50")
    assert parse_amount(Decimal("0.25")) == Decimal("0.25")


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "mephisto.task.budget=123456789012345678901234567890",
            "mephisto.task.budget: the amount 1.2345678901234568e+29 is too large: "
            "at most 12 digits before the '.'",
        ),
        (
            "mephisto.task.task_reward=1e300",
            "mephisto.task.task_reward: the amount '1e300' is not a number in plain "
            "decimal digits such as 12.50: it has an exponent ('e'), and 1e300 is "
            "too large",
        ),
    ],
)
def test_a_launch_config_amount_too_large_for_the_arithmetic_is_a_config_error(
    override, message
):
    with pytest.raises(ConfigError) as refused:
        load_run_config(EXAMPLE_CONF / "local_testing.yaml", [override])

    assert message in str(refused.value)


@pytest.mark.parametrize("written", ["1_000", "'１２'", "'٥'", "1e2", "'1.0e2'"])
@pytest.mark.parametrize("key", ["task_reward", "budget"])
def test_a_config_amount_not_in_plain_digits_is_refused_as_written(
    key, written, tmp_path
):
    """OmegaConf reads these as numbers; the file and the overrides are checked
    as the person wrote them."""
    source = (EXAMPLE_CONF / "local_testing.yaml").read_text()
    config = tmp_path / "conf" / "amount.yaml"
    config.parent.mkdir()
    config.write_text(
        source.replace("  task:\n", f"  task:\n    {key}: {written}\n", 1)
    )

    with pytest.raises(ConfigError) as in_file:
        load_run_config(config, [f"task_dir={EXAMPLE_CONF.parent}"])
    with pytest.raises(ConfigError) as in_override:
        load_run_config(
            EXAMPLE_CONF / "local_testing.yaml", [f"mephisto.task.{key}={written}"]
        )

    for refused in (in_file.value, in_override.value):
        assert str(refused).startswith(f"mephisto.task.{key}: the amount ")
        assert "plain decimal digits" in str(refused)


@pytest.mark.parametrize(
    "override",
    [
        "mephisto.task.budget=null",
        "mephisto.task.budget=25",
        "mephisto.task.task_reward=0.35",
    ],
)
def test_a_config_amount_in_plain_digits_or_none_loads(override):
    load_run_config(EXAMPLE_CONF / "local_testing.yaml", [override])
