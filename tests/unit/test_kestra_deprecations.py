"""Kestra's deprecated spellings deploy, each with a warning at its line (issue 8)."""

from __future__ import annotations

import pytest

from kernel.spec.parse import parse_flow

HEAD = "id: d\nnamespace: a.b\n"
LOG = "        type: io.kestra.plugin.core.log.Log\n        message: hi\n"


@pytest.mark.parametrize(
    ("source", "warning"),
    [
        (
            HEAD + "taskDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {}\n"
            "tasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: x\n",
            "`taskDefaults` is deprecated",
        ),
        (
            HEAD + "tasks:\n  - id: s\n    type: io.kestra.core.tasks.flows.EachSequential\n"
            "    value: [1]\n    tasks:\n      - id: l\n" + LOG,
            "EachSequential' is deprecated",
        ),
        (
            HEAD + "tasks:\n  - id: s\n    type: io.kestra.core.tasks.flows.EachParallel\n"
            "    value: [1]\n    tasks:\n      - id: l\n" + LOG,
            "EachParallel' is deprecated",
        ),
        (
            HEAD + "tasks:\n  - id: s\n    type: io.kestra.core.tasks.flows.AllowFailure\n"
            "    tasks:\n      - id: l\n" + LOG,
            "AllowFailure' is deprecated",
        ),
        (
            HEAD + "tasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Pause\n"
            "    delay: PT1S\n    tasks:\n      - id: l\n" + LOG,
            "'tasks' is deprecated",
        ),
        (
            HEAD + "tasks:\n  - id: s\n    type: io.kestra.plugin.core.flow.Subflow\n"
            "    namespace: a\n    flowId: b\n    outputs:\n      x: y\n",
            "'outputs' is deprecated",
        ),
        (
            HEAD + "inputs:\n  - name: x\n    type: STRING\n"
            "tasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: x\n",
            "`name` is deprecated; use `id`",
        ),
        (
            HEAD + "inputs:\n  - id: x\n    type: ENUM\n    values: [A, B]\n"
            "tasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: x\n",
            "input type `ENUM` is deprecated; use `SELECT`",
        ),
    ],
    ids=["taskDefaults", "EachSequential", "EachParallel", "AllowFailure", "Pause tasks",
         "Subflow outputs", "input name", "ENUM"],
)  # fmt: skip
def test_a_deprecated_spelling_deploys_with_a_warning_at_its_line(source, warning) -> None:
    spec = parse_flow(source, filename="d.yaml")

    messages = [str(w) for w in spec.warnings]
    assert any(warning in m for m in messages), messages
    assert all(m.startswith("d.yaml:") for m in messages)


def test_current_spellings_deploy_without_warnings() -> None:
    source = (
        HEAD + "inputs:\n  - id: x\n    type: SELECT\n    values: [A, B]\n"
        "pluginDefaults:\n  - type: io.kestra.plugin.core.log.Log\n    values: {}\n"
        "tasks:\n  - id: l\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
    )

    assert parse_flow(source).warnings == ()


# Kestra's names for the core types over its history: the current package, the 0.x
# `io.kestra.core.tasks` one and the oldest `org.kestra` one (issue 8: every core alias).
KESTRA_NAMES = {
    "trellis.core.log.Log": (
        "io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log",
        "org.kestra.core.tasks.log.Log",
    ),
    "trellis.core.debug.Return": (
        "io.kestra.plugin.core.debug.Return", "io.kestra.core.tasks.debugs.Return",
        "org.kestra.core.tasks.debugs.Return",
    ),
    "trellis.core.debug.Echo": (
        "io.kestra.core.tasks.debugs.Echo", "org.kestra.core.tasks.debugs.Echo",
    ),
    "trellis.core.flow.Sequential": (
        "io.kestra.plugin.core.flow.Sequential", "io.kestra.core.tasks.flows.Sequential",
        "org.kestra.core.tasks.flows.Sequential",
    ),
    "trellis.core.flow.Parallel": (
        "io.kestra.plugin.core.flow.Parallel", "io.kestra.core.tasks.flows.Parallel",
        "org.kestra.core.tasks.flows.Parallel",
    ),
    "trellis.core.flow.Switch": (
        "io.kestra.plugin.core.flow.Switch", "io.kestra.core.tasks.flows.Switch",
        "org.kestra.core.tasks.flows.Switch",
    ),
    "trellis.core.flow.EachSequential": (
        "io.kestra.core.tasks.flows.EachSequential", "org.kestra.core.tasks.flows.EachSequential",
    ),
    "trellis.core.flow.Subflow": (
        "io.kestra.plugin.core.flow.Subflow", "io.kestra.core.tasks.flows.Subflow",
        "io.kestra.core.tasks.flows.Flow", "org.kestra.core.tasks.flows.Flow",
    ),
    "trellis.core.flow.Template": (
        "io.kestra.plugin.core.flow.Template", "io.kestra.core.tasks.flows.Template",
        "org.kestra.core.tasks.flows.Template",
    ),
    "trellis.core.execution.Fail": (
        "io.kestra.plugin.core.execution.Fail", "io.kestra.core.tasks.executions.Fail",
    ),
    "trellis.core.output.OutputValues": (
        "io.kestra.plugin.core.output.OutputValues", "io.kestra.core.tasks.outputs.OutputValues",
    ),
    "trellis.scripts.shell.Bash": (
        "io.kestra.core.tasks.scripts.Bash", "org.kestra.core.tasks.scripts.Bash",
    ),
    "trellis.http.Request": ("io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request"),
    "trellis.core.trigger.Schedule": (
        "io.kestra.plugin.core.trigger.Schedule", "io.kestra.core.models.triggers.types.Schedule",
        "org.kestra.core.models.triggers.types.Schedule",
    ),
    "trellis.core.trigger.Flow": (
        "io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow",
    ),
    "trellis.core.trigger.Webhook": (
        "io.kestra.plugin.core.trigger.Webhook", "io.kestra.core.models.triggers.types.Webhook",
    ),
    "trellis.core.condition.ExecutionStatus": (
        "io.kestra.plugin.core.condition.ExecutionStatus",
        "io.kestra.plugin.core.condition.ExecutionStatusCondition",
        "io.kestra.core.models.conditions.types.ExecutionStatusCondition",
        "org.kestra.core.models.conditions.types.ExecutionStatusCondition",
    ),
    "trellis.core.condition.FlowCondition": (
        "io.kestra.core.models.conditions.types.FlowCondition",
        "org.kestra.core.models.conditions.types.FlowCondition",
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("name", "canonical"),
    [(name, canonical) for canonical, names in KESTRA_NAMES.items() for name in names],
)
def test_every_kestra_name_of_a_core_type_is_an_alias(name, canonical) -> None:
    from kernel.registry import registry

    assert registry.get(name).type == canonical


def test_a_flow_written_with_the_oldest_names_parses_to_trellis_types() -> None:
    spec = parse_flow(
        HEAD + "tasks:\n"
        "  - id: seq\n    type: org.kestra.core.tasks.flows.Sequential\n    tasks:\n"
        "      - id: ret\n        type: org.kestra.core.tasks.debugs.Return\n"
        "        format: x\n"
        "listeners:\n  - conditions:\n"
        "      - type: org.kestra.core.models.conditions.types.ExecutionStatusCondition\n"
        "        in: [FAILED]\n"
        "    tasks:\n      - id: tell\n        type: org.kestra.core.tasks.log.Log\n"
        "        message: failed\n"
    )

    seq = spec.tasks[0]
    assert (seq.type, seq.raw_type) == ("trellis.core.flow.Sequential",
                                        "org.kestra.core.tasks.flows.Sequential")  # fmt: skip
    assert [t.type for t in seq.walk()] == ["trellis.core.flow.Sequential",
                                            "trellis.core.debug.Return"]  # fmt: skip
