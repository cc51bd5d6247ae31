"""JUnit XML for CI systems: one ``testsuite`` per suite file, one ``testcase`` per case."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree as ET

from flows.testsuite.runner import CaseResult


def junit_xml(results: Iterable[CaseResult]) -> str:
    by_suite: dict[str, list[CaseResult]] = {}
    for result in results:
        by_suite.setdefault(result.suite_id, []).append(result)
    root = ET.Element("testsuites", name="trellis flow test")
    for suite_id, cases in by_suite.items():
        suite = ET.SubElement(
            root, "testsuite", name=suite_id, tests=str(len(cases)),
            failures=str(sum(c.status == "failed" for c in cases)),
            errors=str(sum(c.status == "error" for c in cases)),
            skipped=str(sum(c.status == "skipped" for c in cases)),
            time=f"{sum(c.seconds for c in cases):.3f}",
        )  # fmt: skip
        for case in cases:
            node = ET.SubElement(
                suite, "testcase", classname=suite_id, name=case.case_id, time=f"{case.seconds:.3f}"
            )
            if case.status in ("failed", "error"):
                tag = "failure" if case.status == "failed" else "error"
                detail = ET.SubElement(node, tag, message=case.failures[0] if case.failures else "")
                detail.text = "\n".join(case.failures)
            elif case.status == "skipped":
                ET.SubElement(node, "skipped")
            if case.execution_id:
                ET.SubElement(
                    node, "system-out"
                ).text = f"execution {case.execution_id} {case.state}"
    return ET.tostring(root, encoding="unicode", xml_declaration=True)
