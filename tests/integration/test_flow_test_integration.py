"""``trellis flow test`` through real Celery workers: a suite whose fixture replaces a task
that would write a file passes, the file is never written, and the JUnit report says so."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from django.core.management import call_command

from executions.models import Execution
from flows.services import flow_deploy

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_a_suite_runs_on_workers_with_its_fixture_in_place(workers, tmp_path: Path) -> None:
    marker = tmp_path / "touched"
    flow_deploy(
        source=f"""
id: nightly
namespace: it.flowtest
inputs:
  - id: day
    type: STRING
tasks:
  - id: export
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - touch {marker}
  - id: report
    type: io.kestra.plugin.core.debug.Return
    format: "{{{{ inputs.day }}}}: {{{{ outputs.export.exitCode }}}} rows={{{{ outputs.export.vars.rows }}}}"
"""
    )
    suite = tmp_path / "nightly.test.yaml"
    suite.write_text(
        """
id: nightly_tests
namespace: it.flowtest
flowId: nightly
testCases:
  - id: reports_rows
    fixtures:
      inputs: {day: monday}
      tasks:
        - id: export
          outputs: {exitCode: 0, vars: {rows: 42}}
    assertions:
      - value: "{{ outputs.report.value }}"
        equalTo: "monday: 0 rows=42"
      - value: "{{ execution.state }}"
        equalTo: RUNNING
"""
    )
    report = tmp_path / "junit.xml"
    out = StringIO()

    with pytest.raises(Exception) as raised:  # the second assertion is meant to fail
        call_command("flow", "test", str(suite), "--junit-xml", str(report), "--timeout", "60",
                     stdout=out, stderr=StringIO())  # fmt: skip

    assert getattr(raised.value, "returncode", None) == 1
    text = out.getvalue()
    assert "FAIL  nightly_tests/reports_rows" in text
    assert 'expected equalTo "RUNNING", actual "SUCCESS"' in text
    assert text.count("expected ") == 1  # the first assertion passed
    assert not marker.exists()
    execution = Execution.objects.get(flow_id="nightly")
    assert execution.state == "SUCCESS"
    failure = ET.parse(report).getroot().find("testsuite/testcase/failure")
    assert failure is not None
    assert "SUCCESS" in failure.get("message")
