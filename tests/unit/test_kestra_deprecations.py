"""Kestra's deprecated spellings deploy, each with a warning at its line (issue 8)."""

from __future__ import annotations

import pytest

from flows.spec import parse_flow

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
