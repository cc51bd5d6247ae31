"""Run a test suite: each case is a real execution of the flow under test, on the configured
backend (executor and workers), in a throwaway namespace of its own.

Why a namespace per case: the flow's KV writes, namespace files and executions stay apart
from the real flow's, and two cases (or two CI jobs) never see each other's. The namespace is
a child of the flow's (``<namespace>.tests-<hex>``), so the namespace boundary (issue 21)
lets the flow reach what it reaches in production. The copied flow is deleted after the
case; its execution is kept, so a failed case can be inspected in the admin.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from django.core.files.base import ContentFile

from executions.models import Execution
from executions.runtime.expr_io import ExecutionIO
from executions.runtime.loading import engine_env, execution_flow_spec
from executions.runtime.persistence import load_snapshot
from executions.services import ExecutionError, InputsError, execution_create, execution_kill
from flows.models import Flow
from flows.selectors import flow_get, flow_spec
from flows.services.common import FlowError
from flows.services.deploy import flow_deploy
from flows.services.lifecycle import flow_delete
from flows.testsuite.assertions import check, show
from flows.testsuite.rewrite import test_flow_source
from flows.testsuite.spec import Assertion, SuiteError, TestCase, TestSuite
from kernel.engine.context import expression_context
from kernel.expressions.render import IO_KEY, ExpressionError, evaluate
from kernel.secrets import Masker
from kernel.spec.model import SpecError
from kernel.states import TERMINAL
from namespaces.services import nsfile_put

#: ``wait(execution_id, timeout) -> Execution``: how the runner waits for the end.
Waiter = Callable[[str, float], Execution]
OK_STATES = ("SUCCESS", "WARNING")


@dataclass
class CaseResult:
    suite_id: str
    case_id: str
    #: passed, failed (an assertion or the execution's end), error (could not run), skipped
    status: str
    seconds: float = 0.0
    execution_id: str | None = None
    state: str | None = None
    failures: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("passed", "skipped")

    def as_dict(self) -> dict[str, Any]:
        return {
            "suiteId": self.suite_id, "testCaseId": self.case_id, "status": self.status,
            "seconds": round(self.seconds, 3), "executionId": self.execution_id,
            "state": self.state, "failures": self.failures, "description": self.description,
        }  # fmt: skip


def poll_wait(execution_id: str, timeout: float) -> Execution:
    """The default waiter: read the execution until it ends or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        execution = Execution.objects.get(pk=execution_id)
        if execution.state in TERMINAL or time.monotonic() >= deadline:
            return execution
        time.sleep(0.2)


def run_suite(
    suite: TestSuite,
    *,
    case_ids: set[str] | None = None,
    timeout: float = 300.0,
    wait: Waiter | None = None,
    actor: Any = None,
    source: str | None = None,
) -> list[CaseResult]:
    """One result per case (``case_ids`` picks some), in file order; ``wait`` defaults to
    :func:`poll_wait`."""
    wait = wait or poll_wait
    results = []
    for case in suite.cases:
        if case_ids and case.id not in case_ids:
            continue
        if case.disabled:
            results.append(CaseResult(suite.id, case.id, "skipped", description=case.description))
            continue
        results.append(
            run_case(suite, case, timeout=timeout, wait=wait, actor=actor, source=source)
        )
    return results


def run_case(
    suite: TestSuite,
    case: TestCase,
    *,
    timeout: float,
    wait: Waiter,
    actor: Any = None,
    source: str | None = None,
) -> CaseResult:
    """``source``: the flow's YAML to test instead of the deployed flow's (CI, before a
    deploy)."""
    started = time.monotonic()
    result = CaseResult(suite.id, case.id, "error", description=case.description)
    flow = None
    try:
        flow = _deploy_copy(suite, case, actor, source)
        execution = _start(flow, case, suite, actor)
        result.execution_id = execution.id
        execution = wait(execution.id, timeout)
        result.state = str(execution.state)
        if execution.state not in TERMINAL:
            result.status = "failed"
            result.failures.append(
                f"execution {execution.id} still {execution.state} after {timeout:g}s "
                "(is an executor and a worker running?); it is killed"
            )
            _stop(execution, actor)
        else:
            result.failures = judge(execution, case.assertions)
            result.status = "failed" if result.failures else "passed"
    except SuiteError as exc:
        result.failures.append(str(exc))
    finally:
        if flow is not None:
            _remove_copy(flow, actor)
        result.seconds = time.monotonic() - started
    return result


def case_namespace(suite: TestSuite) -> str:
    return f"{suite.namespace}.tests-{secrets.token_hex(4)}"


def _deploy_copy(suite: TestSuite, case: TestCase, actor: Any, source: str | None) -> Any:
    if source is None:
        try:
            source = flow_get(suite.namespace, suite.flow_id).source
        except Flow.DoesNotExist:
            raise SuiteError(
                f"no flow {suite.flow_id!r} in namespace {suite.namespace!r}"
            ) from None
    namespace = case_namespace(suite)
    copy = test_flow_source(source, namespace=namespace, fixtures=case.tasks)
    try:
        deployed = flow_deploy(source=copy, author=actor, filename=f"{suite.flow_id} (test)")
    except SpecError as exc:
        raise SuiteError(f"the flow under test does not deploy with its fixtures: {exc}") from None
    for path, content in case.files.items():
        nsfile_put(namespace=namespace, path=path, data=content.encode(), actor=actor)
    return deployed.flow


def _start(flow: Any, case: TestCase, suite: TestSuite, actor: Any) -> Execution:
    spec = flow_spec(flow)
    file_inputs = {i.id for i in spec.inputs if i.type.upper() == "FILE"}
    inputs, files = {}, {}
    for key, value in case.inputs.items():
        if key in file_inputs and isinstance(value, str) and value in case.files:
            # a FILE input naming a fixture file is uploaded from it
            files[key] = ContentFile(case.files[value].encode(), name=PurePosixPath(value).name)
        else:
            inputs[key] = value
    try:
        return execution_create(
            flow=flow, inputs=inputs, files=files, actor=actor,
            labels={"test-suite": suite.id, "test-case": case.id},
        )  # fmt: skip
    except InputsError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in exc.errors.items())
        raise SuiteError(f"invalid inputs: {details}") from None
    except ExecutionError as exc:
        raise SuiteError(str(exc)) from None


def _stop(execution: Execution, actor: Any) -> None:
    """A case that timed out must not run later, when an executor comes back, with its
    side effects at a moment nobody expects."""

    execution_kill(execution, actor=actor)


def _remove_copy(flow: Any, actor: Any) -> None:
    try:
        flow.refresh_from_db()
        if not flow.deleted:
            flow_delete(flow=flow, author=actor)
    except FlowError:
        pass


def judge(execution: Execution, assertions: tuple[Assertion, ...]) -> list[str]:
    """The failures, each with the actual value. Without assertions a case passes when the
    execution ends SUCCESS or WARNING."""
    if not assertions:
        if execution.state in OK_STATES:
            return []
        return [f"execution ended {execution.state} (expected SUCCESS or WARNING)"]
    failures = []
    contexts: dict[str | None, dict[str, Any]] = {}
    for assertion in assertions:
        failure = _judge_one(execution, assertion, contexts)
        if failure:
            failures.append(failure)
    return failures


def _judge_one(
    execution: Execution, assertion: Assertion, contexts: dict[str | None, dict[str, Any]]
) -> str | None:
    label = assertion.description or f"{assertion.value}"
    try:
        if assertion.task_id not in contexts:
            contexts[assertion.task_id] = assertion_context(execution, assertion.task_id)
        actual = evaluate(assertion.value, contexts[assertion.task_id])
    except (ExpressionError, LookupError) as exc:
        return f"{label}: cannot evaluate {assertion.value!r}: {exc}"
    if check(assertion.operator, actual, assertion.expected):
        return None
    message = (
        f"{label}: expected {assertion.operator} {show(assertion.expected)}, actual {show(actual)}"
    )
    return f"{message} ({assertion.error_message})" if assertion.error_message else message


def assertion_context(execution: Execution, task_id: str | None) -> dict[str, Any]:
    """What an assertion's ``{{ }}`` sees: the ended execution's context (``outputs``,
    ``inputs``, ``execution.state``...), or that of ``task_id``'s last run when named."""

    snap = load_snapshot(execution)
    spec = execution_flow_spec(execution)
    io = ExecutionIO(execution.namespace, execution.flow_id, execution.id, Masker.from_environ())
    env = engine_env()
    run = task = None
    if task_id:
        runs = [r for r in snap.task_runs if r.task_id == task_id]
        if not runs:
            raise LookupError(f"no task run of {task_id!r}")
        run, task = runs[-1], spec.task(task_id)
    return expression_context(
        spec, snap, run=run, task=task, envs=env.envs, globals_=env.globals, extra={IO_KEY: io}
    )
