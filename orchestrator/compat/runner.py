"""Kestra's own test flows through Trellis's real executor and workers.

Each scenario of ``expectations.yaml`` is deployed, run and checked; the result is one of
``pass``, ``fail`` (first failing check and what was found), ``error`` (an exception),
``not applicable`` (test-only Kestra tasks, Java-only hooks, multi-step scenarios not
automated yet: with the reason, never counted as passes) or ``refused`` (the flow does not
deploy). The share of applicable scenarios that pass is Trellis's compatibility figure.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from executions.services import InputsError, execution_create
from executions.states import TERMINAL, State
from orchestrator.compat.assertions import Unsupported, check, check_logs, resolve
from orchestrator.compat.document import kestra_document

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kestra-corpus"
#: Expected keys this runner checks; any other key makes a scenario not applicable.
CHECKED = {"state", "taskrun_count", "asserts", "asserts_extra", "logs", "hint",
           "input_errors"}  # fmt: skip


@dataclass
class Scenario:
    file: str
    name: str
    entry: dict[str, Any]
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.file}:{self.name}"


@dataclass
class Result:
    scenario: Scenario
    status: str  # pass | fail | error | not applicable | refused
    reason: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)


def load(corpus: Path = CORPUS) -> list[Scenario]:
    doc = yaml.safe_load((corpus / "expectations.yaml").read_text())
    out = []
    for entry in [*doc.get("entries", []), *doc.get("synthetic_entries", [])]:
        for spec in entry.get("scenarios", []):
            out.append(Scenario(entry["file"], spec.get("name", "run"), entry, spec))
    return out


def not_applicable(scenario: Scenario) -> str | None:
    """Why this scenario cannot be run here as it is written, or None."""
    spec = scenario.spec
    if spec.get("test_only_types") or scenario.entry.get("test_only_types"):
        return f"needs Kestra test-only task types {spec.get('test_only_types')}"
    if spec.get("steps"):
        return "multi-step scenario (natural-language steps are not automated)"
    expected = spec.get("expected")
    if not isinstance(expected, dict):
        return "no machine-checkable expectation"
    if "error_eq" in expected:
        return "asserts a Java exception raised by the test itself"
    unknown = set(expected) - CHECKED
    if unknown:
        return f"expects {', '.join(sorted(unknown))}, which this runner cannot observe"
    if spec.get("inputs") is not None and not isinstance(spec.get("inputs"), dict):
        return f"inputs given as {type(spec['inputs']).__name__}, not a map"
    if (spec.get("setup") or {}).get("kv") or (scenario.entry.get("setup") or {}).get("kv"):
        return "needs the KV store"
    return None


def _inputs(spec: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    mode = spec.get("inputs_mode", "validated")
    return dict(spec.get("inputs") or {}), mode == "validated"


def _labels(spec: dict[str, Any]) -> dict[str, str]:
    labels = spec.get("labels") or []
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    return {str(item["key"]): str(item["value"]) for item in labels}


def _wait(execution_id: str, until: str, timeout: float):  # noqa: ANN202 - Execution
    from executions.models import Execution, TaskRun

    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if until == "PAUSED":
            if execution.state == State.PAUSED:
                return execution
        elif until == "RUNNING":
            if (
                execution.state == State.RUNNING
                and TaskRun.objects.filter(execution=execution).exists()
            ):
                return execution
        elif execution.state in TERMINAL:
            return execution
        if time.monotonic() > deadline:
            return execution
        time.sleep(0.1)


def evaluate(expected: dict[str, Any], doc: dict[str, Any], logs: list[dict]) -> str | None:
    """The first failing check, or None when every check passes."""
    state = expected.get("state")
    if state not in (None, "unknown") and doc["state"]["current"] != state:
        return f"state {doc['state']['current']}, expected {state}"
    count = expected.get("taskrun_count")
    runs = len(doc["taskRunList"])
    if isinstance(count, int) and runs != count:
        return f"{runs} task runs, expected {count}"
    if isinstance(count, dict) and "gte" in count and runs < count["gte"]:
        return f"{runs} task runs, expected at least {count['gte']}"
    for item in [*(expected.get("asserts") or []), *(expected.get("asserts_extra") or [])]:
        actual = resolve(doc, item["path"])
        wanted = _special(doc, item.get("value"))
        if "value_from" in item:
            wanted = _value_from(doc, item["value_from"])
        if not check(actual, item["op"], wanted):
            shown = actual if actual is not None else "null"
            return f"{item['path']} {item['op']} {wanted!r}: found {str(shown)[:200]!r}"
    for spec in expected.get("logs") or []:
        if not check_logs(doc, logs, spec):
            return f"logs {spec.get('op')} {spec.get('value')!r} not found"
    return None


def _special(doc: dict[str, Any], value: Any) -> Any:
    """The corpus's placeholders (<EXECUTION_ID>, <TASKRUN_ID:id>...) replaced by real ids."""
    if isinstance(value, list):
        return [_special(doc, v) for v in value]
    if isinstance(value, dict):
        return {k: _special(doc, v) for k, v in value.items()}
    if not isinstance(value, str) or not value.startswith("<"):
        return value
    if value == "<EXECUTION_ID>":
        return doc["id"]
    if value == "<PARENT_EXECUTION_ID>":
        return doc.get("parentId")
    if value.startswith("<TASKRUN_ID:"):
        task_id = value[len("<TASKRUN_ID:") : -1]
        return next((r["id"] for r in doc["taskRunList"] if r["taskId"] == task_id), value)
    return value


def _value_from(doc: dict[str, Any], expression: str) -> Any:
    prefix = ""
    if expression.startswith("'") and "' + " in expression:
        prefix, _, expression = expression[1:].partition("' + ")
    value = resolve(doc, expression.strip())
    return f"{prefix}{value}" if prefix else value


def run_scenario(scenario: Scenario, flows: dict[str, Any], timeout: float = 60) -> Result:
    """Run one scenario against deployed ``flows`` (file -> Flow or refusal message)."""
    started = time.monotonic()
    why = not_applicable(scenario)
    if why:
        return Result(scenario, "not applicable", why)
    flow = flows.get(scenario.file)
    if not hasattr(flow, "flow_id"):
        return Result(scenario, "refused", str(flow or "flow file not found"))
    spec = scenario.spec
    expected = spec["expected"]
    inputs, validate = _inputs(spec)
    try:
        try:
            execution = execution_create(
                flow=flow, inputs=inputs, labels=_labels(spec), validate_inputs=validate
            )
        except InputsError as exc:
            if "input_errors" in expected:
                return Result(scenario, "pass", "inputs refused as expected")
            return Result(scenario, "fail", f"inputs refused: {exc}")
        if "input_errors" in expected:
            return Result(scenario, "fail", "inputs were accepted; Kestra refuses them")
        done = _wait(execution.id, spec.get("run_until", "TERMINATED"), timeout)
        doc, logs = kestra_document(done)
        failure = evaluate(expected, doc, logs)
    except Unsupported as exc:
        return Result(scenario, "not applicable", f"unsupported assertion: {exc}")
    except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the run
        return Result(scenario, "error", f"{type(exc).__name__}: {exc}",
                      details={"traceback": traceback.format_exc()})  # fmt: skip
    seconds = time.monotonic() - started
    if failure:
        return Result(scenario, "fail", failure, seconds, {"execution": execution.id})
    return Result(scenario, "pass", "", seconds, {"execution": execution.id})


def deploy_corpus(corpus: Path = CORPUS) -> dict[str, Any]:
    """Deploy every corpus flow (and the templates scenarios need); file -> Flow or the
    reason it was refused."""
    from flows.services import flow_deploy
    from flows.spec import SpecError
    from templates.services import template_deploy

    doc = yaml.safe_load((corpus / "expectations.yaml").read_text())
    refused_templates: dict[str, str] = {}
    for entry in doc.get("entries", []):
        for template in (entry.get("setup") or {}).get("templates") or []:
            try:
                template_deploy(source=yaml.safe_dump(template, sort_keys=False))
            except SpecError as exc:
                refused_templates[str(template.get("id"))] = str(exc).splitlines()[0]
    out: dict[str, Any] = {f"template:{k}": v for k, v in refused_templates.items()}
    files = sorted((corpus / "flows").iterdir()) + sorted((corpus / "flows-synthetic").iterdir())
    for path in files:
        key = path.name if path.parent.name == "flows" else f"flows-synthetic/{path.name}"
        try:
            out[key] = flow_deploy(source=path.read_text(), filename=str(path)).flow
        except SpecError as exc:
            out[key] = str(exc).splitlines()[0]
    return out


def summarize(results: list[Result]) -> Iterator[str]:
    counts: dict[str, int] = {}
    for result in results:
        counts[result.status] = counts.get(result.status, 0) + 1
    applicable = len(results) - counts.get("not applicable", 0)
    passed = counts.get("pass", 0)
    share = 100 * passed / applicable if applicable else 0.0
    yield ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    yield f"{passed}/{applicable} applicable scenarios pass ({share:.0f}%), {len(results)} in all"
