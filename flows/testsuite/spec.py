"""The test-suite file: Kestra's shape, read into frozen dataclasses with clear errors.

::

    id: hello_tests
    namespace: company.team
    flowId: hello
    testCases:
      - id: greets
        description: says hello without calling the API
        fixtures:
          inputs: {name: Ada}
          files: {data/names.csv: "Ada\\n"}
          tasks:
            - id: call_api
              outputs: {code: 200}
              state: SUCCESS
        assertions:
          - value: "{{ outputs.call_api.code }}"
            equalTo: 200
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from flows.testsuite.assertions import OPERATORS
from plugins.core.fixture import FIXTURE_STATES

#: Kestra's test case type; accepted and ignored (there is only one kind of case).
CASE_TYPES = ("io.kestra.core.tests.flow.UnitTest", "trellis.test.UnitTest")


class SuiteError(ValueError):
    """The file is not a valid test suite; the message says where."""


@dataclass(frozen=True)
class TaskFixture:
    id: str
    outputs: dict[str, Any] = field(default_factory=dict)
    state: str = "SUCCESS"


@dataclass(frozen=True)
class Assertion:
    value: Any
    operator: str
    expected: Any
    description: str = ""
    error_message: str = ""
    task_id: str | None = None


@dataclass(frozen=True)
class TestCase:
    id: str
    description: str = ""
    disabled: bool = False
    inputs: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)
    tasks: tuple[TaskFixture, ...] = ()
    assertions: tuple[Assertion, ...] = ()


@dataclass(frozen=True)
class TestSuite:
    id: str
    namespace: str
    flow_id: str
    cases: tuple[TestCase, ...]
    filename: str = "<suite>"


def parse_suite(source: str, filename: str = "<suite>") -> TestSuite:
    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError as exc:
        raise SuiteError(f"{filename}: not YAML: {exc}") from None
    where = filename
    doc = _mapping(doc, where)
    _only(doc, {"id", "namespace", "flowId", "description", "testCases", "disabled"}, where)
    cases = doc.get("testCases")
    if not isinstance(cases, list) or not cases:
        raise SuiteError(f"{where}: testCases must be a non-empty list")
    parsed = tuple(_case(c, f"{where}: testCases[{i}]") for i, c in enumerate(cases))
    ids = [c.id for c in parsed]
    if len(set(ids)) != len(ids):
        raise SuiteError(f"{where}: test case ids must be unique")
    return TestSuite(
        id=_text(doc, "id", where), namespace=_text(doc, "namespace", where),
        flow_id=_text(doc, "flowId", where), cases=parsed, filename=filename,
    )  # fmt: skip


def _case(raw: Any, where: str) -> TestCase:
    raw = _mapping(raw, where)
    _only(raw, {"id", "type", "description", "disabled", "fixtures", "assertions"}, where)
    if raw.get("type", CASE_TYPES[0]) not in CASE_TYPES:
        raise SuiteError(f"{where}: type must be one of {', '.join(CASE_TYPES)}")
    case_id = _text(raw, "id", where)
    where = f"{where} ({case_id})"
    fixtures = _mapping(raw.get("fixtures") or {}, f"{where}: fixtures")
    _only(fixtures, {"inputs", "files", "tasks"}, f"{where}: fixtures")
    files = _mapping(fixtures.get("files") or {}, f"{where}: fixtures.files")
    tasks = fixtures.get("tasks") or []
    if not isinstance(tasks, list):
        raise SuiteError(f"{where}: fixtures.tasks must be a list")
    assertions = raw.get("assertions") or []
    if not isinstance(assertions, list):
        raise SuiteError(f"{where}: assertions must be a list")
    return TestCase(
        id=case_id,
        description=str(raw.get("description") or ""),
        disabled=bool(raw.get("disabled", False)),
        inputs=dict(_mapping(fixtures.get("inputs") or {}, f"{where}: fixtures.inputs")),
        files={str(k): str(v) for k, v in files.items()},
        tasks=tuple(_task(t, f"{where}: fixtures.tasks[{i}]") for i, t in enumerate(tasks)),
        assertions=tuple(_assertion(a, f"{where}: assertions[{i}]")
                         for i, a in enumerate(assertions)),
    )  # fmt: skip


def _task(raw: Any, where: str) -> TaskFixture:
    raw = _mapping(raw, where)
    _only(raw, {"id", "description", "outputs", "state"}, where)
    state = str(raw.get("state") or "SUCCESS").upper()
    if state not in FIXTURE_STATES:
        raise SuiteError(f"{where}: state must be one of {', '.join(FIXTURE_STATES)}")
    outputs = _mapping(raw.get("outputs") or {}, f"{where}: outputs")
    return TaskFixture(id=_text(raw, "id", where), outputs=dict(outputs), state=state)


def _assertion(raw: Any, where: str) -> Assertion:
    raw = _mapping(raw, where)
    _only(raw, {"value", "description", "errorMessage", "taskId", *OPERATORS}, where)
    if "value" not in raw:
        raise SuiteError(f"{where}: value is required")
    used = [name for name in OPERATORS if name in raw]
    if len(used) != 1:
        raise SuiteError(
            f"{where}: exactly one operator is needed ({', '.join(OPERATORS)}); found "
            f"{', '.join(used) or 'none'}"
        )
    return Assertion(
        value=raw["value"], operator=used[0], expected=raw[used[0]],
        description=str(raw.get("description") or ""),
        error_message=str(raw.get("errorMessage") or ""), task_id=raw.get("taskId"),
    )  # fmt: skip


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SuiteError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _only(doc: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(str(k) for k in doc if k not in allowed)
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _text(doc: dict[str, Any], key: str, where: str) -> str:
    value = doc.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SuiteError(f"{where}: {key} is required (a string)")
    return value
