"""Kestra's own test scenarios through Trellis's real executor and workers.

For each scenario of ``expectations.yaml``: create the execution (inputs as the scenario's
``inputs_mode`` says), wait for it, follow the machine-readable steps (restart, replay,
resume, kill, force-run, run another flow...), read the executions back as Kestra-shaped
documents and evaluate every expectation. The outcome is one of ``pass``, ``fail`` (the first
failing check with what Trellis did), ``error`` (an exception), ``not applicable`` (test-only
Kestra tasks, Java-only hooks, steps in words: with the reason, never a pass) or ``refused``
(Trellis does not deploy the flow: the reason with its line).
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.utils import timezone

from compat import live
from compat.assertions import check
from compat.checks import (
    ERROR,
    NOT_APPLICABLE,
    PASS,
    REFUSED,
    Context,
    Result,
    check_expected,
    classify,
)
from compat.document import kestra_document
from compat.scenarios import (
    Corpus,
    NotApplicable,
    Scenario,
    parse_steps,
    scenario_inputs,
    scenario_labels,
)
from compat.steps import Run, StepFailed, StepsMixin, read_file
from executions import services
from executions.models import Execution
from kernel.states import TERMINAL

#: ``expected`` keys the runner evaluates itself (they need other executions or the step).
RELATED = frozenset({
    "child_executions", "triggered_executions", "triggered_executions_within_15s",
    "terminated_executions_of_flow_within_1min", "http", "error", "error_contains",
})  # fmt: skip
INPUT_KEYS = frozenset({"typed_inputs", "typed_inputs_contains_key"})
RESTARTED = "worker processes restarted during this scenario"
_NAMED = re.compile(r"^execution_(\w+)$")
_WITHIN = re.compile(r"^(?P<what>terminated|[A-Z]+)(?: within (?P<n>\d+) ?(?P<unit>s|min))?")


class Runner(StepsMixin):
    """Runs scenarios against a deployed corpus; ``timeout`` bounds each wait (seconds)."""

    def __init__(
        self,
        corpus: Corpus,
        deployment: live.Deployment,
        timeout: float = 60.0,
        watchdog: Callable[[], list[str]] | None = None,
    ) -> None:
        self.corpus = corpus
        self.deployment = deployment
        self.timeout = timeout
        #: Checks the worker processes while waiting; returns what it had to restart.
        self.watchdog = watchdog
        self._restarted: list[str] = []

    def _tick(self) -> None:
        if self.watchdog is not None:
            self._restarted += self.watchdog()

    # ----------------------------------------------------------------------- entry points

    def run_all(
        self,
        scenarios: Iterable[Scenario],
        *,
        keep_going: bool = True,
        on_result: Callable[[Result], None] | None = None,
    ) -> list[Result]:
        """Every scenario in order; without ``keep_going`` the first error stops the run."""
        results = []
        for scenario in scenarios:
            result = self.run_scenario(scenario)
            if result.category != PASS and any(n.startswith(RESTARTED) for n in result.notes):
                # a worker died under it: that says nothing about Kestra compatibility
                again = self.run_scenario(scenario)
                again.notes.insert(0, f"run again: the first run ended {result.category}")
                result = again
            results.append(result)
            if on_result:
                on_result(result)
            if result.category == ERROR and not keep_going:
                break
        return results

    def run_scenario(self, scenario: Scenario) -> Result:
        """One scenario, start to finish; never raises (an exception is an ``error``)."""
        clock = time.monotonic()
        run = Run(scenario, timezone.now())
        try:
            result = self._precheck(scenario) or self._run(run)
        except Exception as exc:  # noqa: BLE001 - one broken scenario must not stop the run
            tail = traceback.format_exc(limit=-3).strip().splitlines()[-3:]
            result = Result(scenario.key, ERROR, f"{type(exc).__name__}: {exc}", notes=tail)
        finally:
            try:
                live.settle(run.started, self.deployment.namespaces)
            except Exception as exc:  # noqa: BLE001 - best effort
                run.notes.append(f"could not kill leftovers: {exc}")
        result.seconds = round(time.monotonic() - clock, 2)
        result.execution_id = run.main
        if self._restarted:
            run.notes.append(f"{RESTARTED}: {', '.join(self._restarted)}")
            self._restarted = []
        result.notes = [*run.notes, *result.notes]
        return result

    # ------------------------------------------------------------------------- the phases

    def _precheck(self, scenario: Scenario) -> Result | None:
        """Not applicable or refused before anything runs, or None."""
        key, spec = scenario.key, scenario.spec
        if spec.get("test_only_types"):
            only = ", ".join(spec["test_only_types"])
            return Result(key, NOT_APPLICABLE, f"needs Kestra test-only task type {only}")
        files = [scenario.file, *(scenario.entry.get("requires_flows") or ())]
        for file in files:
            if file in self.deployment.test_only:
                only = ", ".join(self.deployment.test_only[file])
                return Result(key, NOT_APPLICABLE, f"{file} needs Kestra test-only type {only}")
            if file in self.deployment.refused:
                prefix = "" if file == scenario.file else f"requires {file}, refused: "
                return Result(key, REFUSED, prefix + self.deployment.refused[file])
        if scenario.file not in self.deployment.flows:
            return Result(key, ERROR, f"{scenario.file} is not in the corpus folder")
        via_api = (spec.get("input_error") or {}).get("via_api")
        if via_api:
            return Result(key, NOT_APPLICABLE, f"HTTP-level case: {via_api}")
        return None

    def _run(self, run: Run) -> Result:
        scenario, spec = run.scenario, run.scenario.spec
        try:
            live.apply_setup(scenario.entry.get("setup") or {}, spec.get("setup") or {})
        except NotApplicable as exc:
            return Result(scenario.key, NOT_APPLICABLE, str(exc))
        if "input_error" in spec:
            return self._input_error(run)
        try:
            steps = parse_steps(spec.get("steps") or ())
            unreadable = None
        except NotApplicable as exc:
            steps, unreadable = [], str(exc)
        if unreadable and "expected" not in spec:
            return Result(scenario.key, NOT_APPLICABLE, unreadable)
        try:
            inputs = scenario_inputs(scenario)
        except NotApplicable as exc:
            return Result(scenario.key, NOT_APPLICABLE, str(exc))
        try:
            if not steps or steps[0][0].kind not in ("run", "start"):
                self._start(run, inputs)
            for action, expected in steps:
                self._step(run, action, expected)
        except StepFailed:
            pass
        except NotApplicable as exc:
            run.verdict.cannot(str(exc))
        except services.InputsError as exc:
            run.verdict.expect(False, "inputs accepted", "accepted", f"InputsError: {exc}")
        if unreadable:
            run.verdict.cannot(unreadable)
        return classify(scenario.key, run.verdict)

    def _start(self, run: Run, inputs: Any) -> None:
        spec = run.scenario.spec
        flow = self.deployment.flows[run.scenario.file]
        execution, note = live.create_execution(flow, inputs, scenario_labels(run.scenario))
        if note:
            run.notes.append(note)
        run.main = run.current = execution.id
        until = str(spec.get("run_until") or "TERMINATED")
        if "expected" in spec and set(spec["expected"]) <= INPUT_KEYS:
            until = "CREATED"  # only the stored inputs are asserted: no need to wait
        if until != "CREATED":
            self._wait(run, execution.id, until)
        run.original_doc, _ = kestra_document(execution.id)
        if "expected" in spec:
            self._check(run, spec["expected"], execution.id)

    def _wait(self, run: Run, execution_id: str, until: str, timeout: float | None = None) -> None:
        execution, ok = live.wait_until(
            execution_id, until, timeout or self.timeout, tick=self._tick
        )
        if not ok:
            what = f"reaches {until} within {timeout or self.timeout:g}s"
            run.verdict.expect(False, what, until, execution.state)
            raise StepFailed

    # ----------------------------------------------------------------------------- checks

    def _tokens(self, run: Run, doc: Mapping[str, Any]) -> dict[str, Any]:
        children = live.descendants(run.main) if run.main else []
        return {
            "EXECUTION_ID": doc.get("id"),
            "ORIGINAL_EXECUTION_ID": run.main,
            "PARENT_EXECUTION_ID": doc.get("parentId") or run.main,
            "TRIGGERING_EXECUTION_ID": run.main,
            "CHILD_EXECUTION_ID": children[0].id if children else "<no child execution>",
            "top-level subflow-parent execution id": run.main,
        }

    def _check(
        self,
        run: Run,
        expected: Mapping[str, Any],
        execution_id: str,
        doc: dict[str, Any] | None = None,
        logs: list[dict[str, Any]] | None = None,
    ) -> None:
        """Evaluate ``expected`` on one execution (``doc`` when already taken), then the
        expectations about other executions."""
        if doc is None:
            doc, logs = kestra_document(execution_id)
        ctx = Context(doc, logs or [], self._tokens(run, doc), run.original_doc, read_file)
        handled = RELATED | {k for k in expected if _NAMED.match(k)}
        check_expected(expected, ctx, run.verdict, handled=handled)
        for key in ("child_executions",):
            if key in expected:
                self._children(run, expected[key], execution_id)
        for key in ("triggered_executions", "triggered_executions_within_15s"):
            if key in expected:
                self._triggered(run, expected[key], 15.0)
        if "terminated_executions_of_flow_within_1min" in expected:
            self._terminated_of_flow(run, expected["terminated_executions_of_flow_within_1min"])
        for key, want in expected.items():
            if m := _NAMED.match(key):
                self._named(run, m.group(1), want)

    def _check_other(self, run: Run, spec: Mapping[str, Any], execution: Execution) -> None:
        execution, _ = live.wait_until(execution.id, "TERMINATED", self.timeout, tick=self._tick)
        doc, logs = kestra_document(execution.id)
        tokens = {**self._tokens(run, doc), "PARENT_EXECUTION_ID": run.main}
        ctx = Context(doc, logs, tokens, run.original_doc, read_file)
        wanted = {k: v for k, v in spec.items() if k not in ("flow", "count")}
        check_expected(wanted, ctx, run.verdict)

    def _children(self, run: Run, specs: Iterable[Mapping[str, Any]], parent_id: str) -> None:
        found = live.descendants(parent_id)
        for spec in specs:
            name = spec["flow"]
            mine = [e for e in found if f"{e.namespace}.{e.flow_id}" == name]
            if "count" in spec:
                run.verdict.expect(len(mine) == spec["count"], f"{name} executions",
                                   spec["count"], len(mine))  # fmt: skip
            if not run.verdict.expect(bool(mine), f"child execution of {name}", "one", "none"):
                continue
            for child in mine:
                self._check_other(run, spec, child)

    def _triggered(self, run: Run, specs: Iterable[Mapping[str, Any]], within: float) -> None:
        for spec in specs:
            name = spec["flow"]

            def started(name: str = name) -> list[Execution]:
                found = live.executions_of(name, run.started)
                return found if found and all(e.state in TERMINAL for e in found) else []

            found = live.poll(started, within, tick=self._tick) or live.executions_of(
                name, run.started
            )
            if run.verdict.expect(bool(found), f"execution of {name} triggered", "one", "none"):
                for execution in found:
                    self._check_other(run, spec, execution)

    def _terminated_of_flow(self, run: Run, spec: Mapping[str, Any]) -> None:
        flow = self.deployment.flows[run.scenario.file]
        name = f"{flow.namespace.name}.{flow.flow_id}"
        wanted = list(spec.get("value") or [])

        def states() -> list[str]:
            done = [e.state for e in live.executions_of(name, run.started) if e.state in TERMINAL]
            return done if len(done) >= len(wanted) else []

        actual = live.poll(states, 60.0, tick=self._tick) or [
            e.state for e in live.executions_of(name, run.started)
        ]

        run.verdict.expect(check(actual, spec["op"], wanted), f"executions of {name}", wanted,
                           actual)  # fmt: skip

    def _named(self, run: Run, name: str, want: Any) -> None:
        execution_id = run.named.get(name)
        if not run.verdict.expect(execution_id is not None, f"execution {name}", "started",
                                  "never started"):  # fmt: skip
            return
        if isinstance(want, Mapping):
            self._wait(run, execution_id, "TERMINATED")
            self._check(run, want, execution_id)
            return
        m = _WITHIN.match(str(want))
        if not m:
            run.verdict.cannot(f"execution_{name}: {want!r}")
            return
        limit = float(m.group("n") or self.timeout) * (60 if m.group("unit") == "min" else 1)
        execution, ok = live.wait_until(
            execution_id, "TERMINATED", max(limit, 5.0), tick=self._tick
        )
        if m.group("what") == "terminated":
            run.verdict.expect(ok, f"execution {name} terminated", want, execution.state)
        else:
            run.verdict.expect(execution.state == m.group("what"), f"execution {name} state",
                               m.group("what"), execution.state)  # fmt: skip

    # ----------------------------------------------------------------------- input errors

    def _input_error(self, run: Run) -> Result:
        scenario = run.scenario
        case = scenario.spec["input_error"]
        flow = self.deployment.flows[scenario.file]
        inputs = scenario_inputs(scenario)
        try:
            execution, _ = live.create_execution(flow, inputs)
        except services.InputsError as exc:
            message = str(exc)
            if case.get("ok"):
                run.verdict.expect(False, "inputs accepted", "accepted", message)
            elif "error_eq" in case:
                run.verdict.expect(message == case["error_eq"], "input error", case["error_eq"],
                                   message)  # fmt: skip
            else:
                wanted = case.get("error_contains", "")
                run.verdict.expect(wanted in message, "input error", wanted, message)
            return classify(scenario.key, run.verdict)
        run.main = execution.id
        if not case.get("ok"):
            wanted = case.get("error_contains") or case.get("error_eq")
            run.verdict.expect(False, "inputs refused", wanted, "accepted")
        else:
            doc, logs = kestra_document(execution.id)
            ctx = Context(doc, logs, {"EXECUTION_ID": execution.id})
            check_expected({"typed_inputs": case.get("typed") or {}}, ctx, run.verdict)
        return classify(scenario.key, run.verdict)
