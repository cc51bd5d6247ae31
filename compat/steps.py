"""The follow-up steps of a scenario: restart, replay, resume, kill, force-run, run another
corpus flow, start numbered executions of the same flow.

Each step calls the Trellis service a Kestra test calls (``execution_restart`` for
``ExecutionService.restart``...). Where the Java test asserts on the object the service
returns, the document is read inside the service's transaction, before the executor is woken
at commit, so it is that object and not whatever the executor made of it since.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from compat import live
from compat.assertions import resolve
from compat.checks import Verdict
from compat.document import kestra_document
from compat.scenarios import Action, Inputs, NotApplicable, Scenario
from executions import services
from executions.models import Execution
from orchestrator.storage import default_storage


def read_file(uri: str) -> str:
    """The text of a file in internal storage (``content(...)`` assertions)."""

    with default_storage().open(uri) as handle:
        return handle.read().decode("utf-8", errors="replace")


class StepFailed(Exception):
    """A step could not be carried out; the scenario stops there (already recorded)."""


@dataclass
class Run:
    """The executions one scenario has made so far."""

    scenario: Scenario
    started: Any
    verdict: Verdict = field(default_factory=Verdict)
    main: str | None = None
    current: str | None = None
    original_doc: dict[str, Any] | None = None
    named: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class StepsMixin:
    """Step handling for the Runner (which provides deployment, _wait and _check)."""

    deployment: live.Deployment
    _wait: Callable[..., None]
    _check: Callable[..., None]

    # ------------------------------------------------------------------------------ steps

    def _step(self, run: Run, action: Action, expected: Mapping[str, Any]) -> None:
        """Carry out one step and evaluate its ``expected`` block."""
        http = expected.get("http")
        wants_error = (
            "error" in expected
            or "error_contains" in expected
            or (isinstance(http, int) and http >= 400)
        )
        try:
            snapshot = self._perform(run, action)
        except (services.ExecutionError, services.InputsError) as exc:
            # Trellis refused the action (Kestra's API answers 4xx, its service throws)
            if wants_error:
                contains = expected.get("error_contains")
                ok = contains is None or contains in str(exc)
                run.verdict.expect(ok, f"{action.kind} refused", contains or "an error", str(exc))
                return
            run.verdict.expect(False, f"step {action.kind}", "done", f"refused: {exc}")
            raise StepFailed from exc
        if wants_error:
            run.verdict.expect(False, f"step {action.kind}", "an error", "it was accepted")
            raise StepFailed
        if not expected:
            return
        if snapshot is not None:
            doc, logs = snapshot
            self._check(run, expected, doc["id"], doc, logs)
        else:
            self._check(run, expected, run.current)

    def _perform(self, run: Run, action: Action) -> tuple[dict, list] | None:
        """Do the action; returns the document the service returned (before the executor
        moves on) when Kestra's test asserts on that, else None (then the fresh one is read)."""
        kind, args = action.kind, action.args
        if kind == "run":
            return self._run_flow(run, args)
        if kind == "start":
            return self._start_named(run, args)
        if run.current is None:
            raise NotApplicable(f"{kind} before any execution exists")
        current = Execution.objects.get(pk=run.current)
        if kind == "wait":
            self._wait(run, current.id, "TERMINATED")
            return None
        if kind == "kill":
            services.execution_kill(current)
            self._wait(run, current.id, "TERMINATED")
            return None
        if kind == "force_run":
            return self._snapshot(lambda: services.execution_force_run(current))
        if kind == "restart":
            return self._snapshot(lambda: services.execution_restart(current))
        if kind == "replay":
            return self._replay(run, args.get("target"))
        if kind == "resume":
            inputs = dict(args.get("inputs") or {})
            inputs.update(self._resume_files(current, args.get("files") or {}))
            if "task" in args:
                run.notes.append("markAs(RUNNING) on the paused task run done as a resume")
            snapshot = self._snapshot(lambda: services.execution_resume(current, inputs))
            if args.get("emit", "").strip() == "then emit":
                self._wait(run, current.id, "TERMINATED")
                return None
            return snapshot
        raise NotApplicable(f"no runner for step kind {kind}")

    @staticmethod
    def _snapshot(call: Callable[[], Execution]) -> tuple[dict, list]:
        """Call a service and read the execution inside the same transaction: the executor
        is only woken at commit, so this is what the service returned, as in Kestra."""
        with transaction.atomic():
            execution = call()
            return kestra_document(execution.id)

    def _replay(self, run: Run, target: str | None) -> tuple[dict, list]:
        original = Execution.objects.get(pk=run.main)
        task_run_id = None
        if target is not None:
            doc, _ = kestra_document(original.id)
            chosen = resolve(doc, target.replace("'", "").removesuffix(".id"))
            task_run_id = chosen.get("id") if isinstance(chosen, Mapping) else None
            if task_run_id is None:
                run.verdict.expect(False, f"task run {target}", "exists", "missing")
                raise StepFailed
        doc, logs = self._snapshot(lambda: services.execution_replay(original, task_run_id))
        run.current = doc["id"]
        return doc, logs

    @staticmethod
    def _resume_files(execution: Execution, files: Mapping[str, str]) -> dict[str, str]:
        """Store the files a multipart resume uploads; their URIs answer the file inputs."""

        uris = {}
        for input_id, what in files.items():
            data = execution.id.encode() if "execution id" in what else b"compat upload"
            uris[input_id] = default_storage().put_input(
                execution.namespace, execution.flow_id, execution.id, input_id, "data", data
            )
        return uris

    def _run_flow(self, run: Run, args: Mapping[str, Any]) -> None:
        flow = self.deployment.by_name(args["flow"])
        if flow is None:
            raise NotApplicable(f"no deployed corpus flow {args['flow']}")
        values = {k: run.named.get(str(v), v) for k, v in (args.get("inputs") or {}).items()}
        mode = "raw" if values else "none"
        execution, note = live.create_execution(flow, Inputs(mode, values))
        if note:
            run.notes.append(note)
        run.main = run.main or execution.id
        run.current = execution.id
        if "name" in args:
            run.named[args["name"]] = execution.id
        self._wait(run, execution.id, args.get("until", "TERMINATED"))

    def _start_named(self, run: Run, args: Mapping[str, Any]) -> None:
        flow = self.deployment.flows[run.scenario.file]
        execution, _ = live.create_execution(flow, Inputs("none", {}))
        run.named[args["name"]] = execution.id
        run.main = run.main or execution.id
        run.current = execution.id
        if "then" in args:
            then, _ = live.create_execution(flow, Inputs("none", {}))
            run.named[args["then"]] = then.id
        until = "RUNNING" if args["until"] == "RUNNING" else "TERMINATED"
        self._wait(run, execution.id, until)
