"""``flow test PATH...``: run flow unit tests (test-suite YAML files) as real executions.

Each case runs on the configured backend, so an executor and a worker must be running; a
case that nothing moves gets the ``--wait`` warning naming the idle queue (``--warn-after``)
and fails at ``--timeout``. One ``PASS``/``FAIL`` line per case, each failure with the
actual value under it; exit 1 when any case failed; ``--junit-xml`` writes a CI report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from executions.cli.run import add_warn_after, follow
from executions.models import Execution
from flows.cli.base import fail
from flows.services.common import collect_documents
from flows.services.deploy import parse_source
from flows.testsuite.junit import junit_xml
from flows.testsuite.runner import CaseResult, run_suite
from flows.testsuite.spec import SuiteError, parse_suite
from kernel.spec.model import SpecError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "test",
        help="run flow unit tests (test-suite files); exit 1 if any case fails",
        description="Run each test case as a real execution in a throwaway namespace, with "
        "its fixture tasks replaced by their given outputs. Needs a running executor and worker.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="a test-suite file or a folder")
    parser.add_argument("--case", action="append", metavar="ID", help="run only this case")
    parser.add_argument(
        "--flows", action="append", metavar="PATH",
        help="test the flows in these files or folders instead of the deployed ones (CI)",
    )  # fmt: skip
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="seconds each case may take (default 300)"
    )
    add_warn_after(parser)
    parser.add_argument("--junit-xml", metavar="FILE", help="write a JUnit XML report here")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.set_defaults(handler=handle)


def handle(command: BaseCommand, options: dict) -> None:
    documents, problems = collect_documents(options["paths"])
    if problems:
        raise fail("\n".join(str(p) for p in problems))
    try:
        suites = [parse_suite(source, filename) for filename, source in documents]
    except SuiteError as exc:
        raise fail(str(exc)) from None

    def wait(execution_id: str, timeout: float) -> Execution:
        return follow(command, execution_id, timeout=timeout, quiet=True,
                      warn_after=options["warn_after"])  # fmt: skip

    local = _flow_sources(options["flows"] or [])
    for suite in suites:  # every suite checked before any runs: bad input changes nothing
        if options["flows"] and (suite.namespace, suite.flow_id) not in local:
            raise fail(f"{suite.filename}: no flow {suite.namespace}.{suite.flow_id} in --flows")
    results: list[CaseResult] = []
    wanted = set(options["case"] or ())
    for suite in suites:
        source = local.get((suite.namespace, suite.flow_id))
        ran = run_suite(suite, case_ids=wanted, timeout=options["timeout"], wait=wait,
                        source=source)  # fmt: skip
        for result in ran:
            results.append(result)
            if not options["json"]:
                for line in result_lines(result):
                    command.stdout.write(line)
                command.stdout.flush()
    if options["junit_xml"]:
        Path(options["junit_xml"]).write_text(junit_xml(results), encoding="utf-8")
    if options["json"]:
        command.stdout.write(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        command.stdout.write(summary(results))
    if not results:
        raise fail("no test case ran (check --case)")
    if not all(r.ok for r in results):
        raise fail(f"{sum(not r.ok for r in results)} test case(s) failed")


def _flow_sources(paths: list[str]) -> dict[tuple[str, str], str]:
    """(namespace, id) -> source of every valid flow file under ``paths``."""

    if not paths:
        return {}
    documents, problems = collect_documents(paths)
    if problems:
        raise fail("\n".join(str(p) for p in problems))
    found = {}
    for filename, source in documents:
        if _is_suite(source):  # flows and their tests often share a folder
            continue
        try:
            spec = parse_source(source, filename=filename)
        except SpecError as exc:
            raise fail(str(exc)) from None
        found[(spec.namespace, spec.id)] = source
    return found


def _is_suite(source: str) -> bool:
    import yaml

    try:
        doc = yaml.safe_load(source)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and "testCases" in doc


def result_lines(result: CaseResult) -> list[str]:
    """``PASS suite/case (1.20s)``; a failure adds its execution and one line per failure."""
    word = {"passed": "PASS", "failed": "FAIL", "error": "ERROR", "skipped": "SKIP"}[result.status]
    head = f"{word:<5} {result.suite_id}/{result.case_id} ({result.seconds:.2f}s)"
    if result.ok:
        return [head]
    where = f"  execution {result.execution_id} {result.state}" if result.execution_id else ""
    return [head + where, *(f"      {failure}" for failure in result.failures)]


def summary(results: list[CaseResult]) -> str:
    counts = {
        s: sum(r.status == s for r in results) for s in ("passed", "failed", "error", "skipped")
    }
    return ", ".join(f"{n} {status}" for status, n in counts.items() if n or status == "passed")
