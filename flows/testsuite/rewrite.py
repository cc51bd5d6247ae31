"""The flow a test case runs: the flow under test moved to a throwaway namespace, without
its triggers (a schedule must not fire there), each fixture task replaced by a
``trellis.core.test.Fixture`` that ends with the given outputs and state.

Only runnable tasks can be fixtures: replacing a flowable would silently drop the tasks
inside it, which is better said plainly (put fixtures on the tasks inside instead).
"""

from __future__ import annotations

from typing import Any

import yaml

from flows.testsuite.spec import SuiteError, TaskFixture
from kernel.plugin import FlowableTask
from kernel.registry import registry

FIXTURE_TYPE = "trellis.core.test.Fixture"
#: Keys of a task kept on its fixture: they decide whether and how its end counts.
KEPT_KEYS = ("id", "description", "allowFailure", "allowWarning", "runIf", "disabled")


def test_flow_source(source: str, *, namespace: str, fixtures: tuple[TaskFixture, ...]) -> str:
    doc = yaml.safe_load(source)
    if not isinstance(doc, dict):
        raise SuiteError("the flow under test is not a YAML mapping")
    doc["namespace"] = namespace
    doc.pop("triggers", None)
    wanted = {f.id: f for f in fixtures}
    found: set[str] = set()
    _replace(doc, wanted, found)
    missing = sorted(set(wanted) - found)
    if missing:
        raise SuiteError(f"fixture for unknown task(s): {', '.join(missing)}")
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


def _replace(node: Any, wanted: dict[str, TaskFixture], found: set[str]) -> None:
    if isinstance(node, list):
        for i, item in enumerate(node):
            if _is_fixture_target(item, wanted):
                node[i] = _fixture(item, wanted[item["id"]])
                found.add(item["id"])
            else:
                _replace(item, wanted, found)
    elif isinstance(node, dict):
        for key, value in node.items():
            if _is_fixture_target(value, wanted):  # a lone task under a key (``task:``)
                node[key] = _fixture(value, wanted[value["id"]])
                found.add(value["id"])
            else:
                _replace(value, wanted, found)


def _is_fixture_target(node: Any, wanted: dict[str, TaskFixture]) -> bool:
    return isinstance(node, dict) and node.get("id") in wanted and "type" in node


def _fixture(task: dict[str, Any], fixture: TaskFixture) -> dict[str, Any]:
    try:
        plugin = registry.get(str(task["type"]))
    except LookupError:
        plugin = None
    if plugin is not None and issubclass(plugin, FlowableTask):
        raise SuiteError(
            f"task {fixture.id!r} is a flowable ({task['type']}): put fixtures on the "
            "tasks inside it instead"
        )
    replaced = {key: task[key] for key in KEPT_KEYS if key in task}
    return {
        **replaced, "type": FIXTURE_TYPE, "replaces": str(task["type"]),
        "outputs": fixture.outputs, "state": fixture.state,
    }  # fmt: skip
