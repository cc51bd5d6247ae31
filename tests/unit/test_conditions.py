"""Conditions Kestra flows use besides the execution and date ones (FlowCondition,
FlowNamespaceCondition, PublicHoliday), and every condition checked at deploy: a condition
that could never hold (unknown type, missing property, unknown calendar) is an error at its
line instead of a trigger that silently never fires."""

from __future__ import annotations

import pytest

from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from plugins.core import conditions

OWNER = {"flow": {"namespace": "company.team", "id": "report"}, "execution": {
    "namespace": "other.ns", "flowId": "upstream", "state": "SUCCESS"}}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "holds"),
    [
        ({"type": "io.kestra.plugin.core.condition.FlowCondition",
          "namespace": "company.team", "flowId": "report"}, True),
        ({"type": "io.kestra.core.models.conditions.types.FlowCondition",
          "namespace": "other.ns", "flowId": "upstream"}, False),  # the owner, not the execution
        ({"type": "io.kestra.plugin.core.condition.FlowNamespaceCondition",
          "namespace": "company.team"}, True),
        ({"type": "io.kestra.plugin.core.condition.FlowNamespaceCondition",
          "namespace": "company"}, False),
        ({"type": "org.kestra.core.models.conditions.types.FlowNamespaceCondition",
          "namespace": "company", "prefix": True}, True),
    ],
)  # fmt: skip
def test_flow_conditions_judge_the_flow_that_owns_the_trigger(condition, holds) -> None:
    assert conditions.evaluate(condition, OWNER) is holds


@pytest.mark.parametrize(
    ("props", "date", "holds"),
    [
        ({"country": "FR"}, "2026-07-14T09:00:00+02:00", True),
        ({"country": "FR"}, "2026-07-15T09:00:00+02:00", False),
        ({"country": "fr"}, "2026-12-25T00:30:00+01:00", True),
        ({"country": "US", "subDivision": "US-CA"}, "2026-03-31T10:00:00-07:00", True),  # César Chávez Day
        ({"country": "US", "subDivision": "NY"}, "2026-03-31T10:00:00-04:00", False),
    ],
)  # fmt: skip
def test_public_holiday_judges_the_trigger_date_in_its_own_offset(props, date, holds) -> None:
    condition = {"type": "io.kestra.plugin.core.condition.PublicHoliday", **props}

    assert conditions.evaluate(condition, {"trigger": {"date": date}}) is holds


def flow_with(condition: str) -> str:
    return f"""id: f
namespace: company.team
tasks:
  - id: a
    type: io.kestra.plugin.core.log.Log
    message: hi
triggers:
  - id: nightly
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 2 * * *"
    conditions:
{condition}"""


def problems(source: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_flow(source)
    return [f"{p.line}:{p.col}: {p.message}" for p in caught.value.problems]


def test_a_known_condition_deploys() -> None:
    spec = parse_flow(
        flow_with(
            "      - type: io.kestra.plugin.core.condition.Not\n"
            "        conditions:\n"
            "          - type: io.kestra.plugin.core.condition.PublicHoliday\n"
            "            country: FR\n"
        )
    )
    assert spec.triggers[0].properties["conditions"][0]["conditions"][0]["country"] == "FR"


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("      - type: io.kestra.plugin.core.condition.Nope\n",
         "12:15: unknown condition type 'io.kestra.plugin.core.condition.Nope'"),
        ("      - type: io.kestra.plugin.core.condition.DayWeek\n",
         "12:9: missing required property 'dayOfWeek'"),
        ("      - type: io.kestra.plugin.core.condition.Weekend\n        dayz: 1\n",
         "13:9: unknown property 'dayz' for trellis.core.condition.Weekend"),
        ("      - type: io.kestra.plugin.core.condition.PublicHoliday\n        country: ZZ\n",
         "13:18: unknown public holiday calendar: Country ZZ not available"),
        ("      - type: io.kestra.plugin.core.condition.Or\n        conditions:\n"
         "          - type: MultipleCondition\n",
         "14:19: unknown condition type 'MultipleCondition'"),
        ("      - dayOfWeek: MONDAY\n", "12:9: a condition needs a `type`"),
    ],
)  # fmt: skip
def test_a_condition_that_could_never_hold_is_refused_at_its_line(condition, expected) -> None:
    found = problems(flow_with(condition))

    assert any(line.startswith(expected) for line in found), found
