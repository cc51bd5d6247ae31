"""Assertion operators of flow unit tests (Kestra's names), pure."""

from __future__ import annotations

import pytest

from flows.testsuite.assertions import OPERATORS, check, show


@pytest.mark.parametrize(
    ("operator", "actual", "expected", "holds"),
    [
        ("equalTo", 200, 200, True),
        ("equalTo", "200", 200, True),  # a script's output is text
        ("equalTo", "SUCCESS", "FAILED", False),
        ("equalTo", {"a": 1}, {"a": 1}, True),
        ("notEqualTo", "x", "y", True),
        ("notEqualTo", 1, "1", False),
        ("contains", "hello Ada", "Ada", True),
        ("contains", ["a", "b"], "b", True),
        ("contains", [1, 2], "3", False),
        ("startsWith", "s3://bucket/key", "s3://", True),
        ("endsWith", "report.csv", ".json", False),
        ("greaterThan", "10", 9, True),  # numbers, not text ("10" < "9" as text)
        ("greaterThan", 3, 3, False),
        ("greaterThanOrEqualTo", 3, 3, True),
        ("lessThan", 2.5, 3, True),
        ("lessThanOrEqualTo", "b", "a", False),
        ("in", "WARNING", ["SUCCESS", "WARNING"], True),
        ("notIn", "FAILED", ["SUCCESS", "WARNING"], True),
        ("isNull", None, True, True),
        ("isNull", "x", True, False),
        ("isNotNull", "x", True, True),
    ],
)
def test_operators(operator: str, actual: object, expected: object, holds: bool) -> None:
    assert check(operator, actual, expected) is holds


def test_kestras_operator_names_are_all_there() -> None:
    assert set(OPERATORS) >= {
        "equalTo", "notEqualTo", "contains", "startsWith", "endsWith", "greaterThan",
        "greaterThanOrEqualTo", "lessThan", "lessThanOrEqualTo", "in", "notIn", "isNull",
        "isNotNull",
    }  # fmt: skip


def test_values_are_shown_as_json_so_types_differ() -> None:
    assert (show("200"), show(200), show(None)) == ('"200"', "200", "null")
