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
from flows.testsuite.junit import junit_xml
from flows.testsuite.runner import CaseResult, run_suite
from flows.testsuite.spec import SuiteError, parse_suite


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

    results: list[CaseResult] = []
    wanted = set(options["case"] or ())
    for suite in suites:
        for result in run_suite(suite, case_ids=wanted, timeout=options["timeout"], wait=wait):
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
