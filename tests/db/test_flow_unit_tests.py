"""``flow test``: test-suite files run as real executions (driven in this process, as the
executor and a worker would), fixture tasks not run, failures with the actual value, JUnit."""

from __future__ import annotations

from io import StringIO
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from executions.models import Execution, TaskRun
from executions.runtime import dispatch
from flows.models import Flow
from flows.services import flow_deploy
from flows.testsuite.runner import run_suite
from flows.testsuite.spec import SuiteError, parse_suite
from tests.db.test_incremental_snapshots import drive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """No message leaves this process: ``drive`` plays the executor and the worker."""
    monkeypatch.setattr(dispatch, "send", lambda *args, **kwargs: None)
    monkeypatch.setattr("flows.cli.test.follow", lambda command, eid, **kw: driven(eid, 0))


@pytest.fixture
def tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder the shell task may write its marker into: scripts are sandboxed and see
    nothing else of this machine (issue 21); the unprivileged script user must write it."""
    from plugins.scripts.sandbox import WRITABLE_ENV

    tmp_path.chmod(0o777)
    monkeypatch.setenv(WRITABLE_ENV, str(tmp_path))
    return tmp_path


def driven(execution_id: str, timeout: float) -> Execution:
    drive(execution_id)
    return Execution.objects.get(pk=execution_id)


def deploy_flow(marker: Path) -> Flow:
    return flow_deploy(
        source=f"""
id: orders
namespace: t.unit
inputs:
  - id: who
    type: STRING
tasks:
  - id: side_effect
    type: io.kestra.plugin.scripts.shell.Commands
    commands:
      - echo written > {marker}
  - id: greet
    type: io.kestra.plugin.core.debug.Return
    format: "hello {{{{ inputs.who }}}} {{{{ outputs.side_effect.exitCode }}}}"
triggers:
  - id: every_minute
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "* * * * *"
"""
    ).flow


SUITE = """
id: orders_tests
namespace: t.unit
flowId: orders
testCases:
  - id: greets
    fixtures:
      inputs: {who: Ada}
      tasks:
        - id: side_effect
          outputs: {exitCode: 7}
    assertions:
      - value: "{{ outputs.greet.value }}"
        equalTo: hello Ada 7
      - value: "{{ outputs.side_effect.exitCode }}"
        greaterThan: 5
  - id: wrong
    fixtures:
      inputs: {who: Bob}
      tasks:
        - id: side_effect
          outputs: {exitCode: 1}
    assertions:
      - value: "{{ outputs.greet.value }}"
        contains: Ada
"""


def test_a_fixture_task_is_not_run_and_reports_its_given_outputs(tmp_path: Path) -> None:
    marker = tmp_path / "written.txt"
    deploy_flow(marker)
    results = run_suite(parse_suite(SUITE), case_ids={"greets"}, wait=driven)

    assert [(r.case_id, r.status) for r in results] == [("greets", "passed")], results
    assert not marker.exists()  # the shell task would have written it
    execution = Execution.objects.get(pk=results[0].execution_id)
    assert execution.namespace.startswith("t.unit.tests-")  # a throwaway namespace
    assert TaskRun.objects.get(execution=execution, task_id="side_effect").outputs == {
        "exitCode": 7
    }
    copy = Flow.objects.get(namespace__name=execution.namespace, flow_id="orders")
    assert copy.deleted  # the copy is removed, the execution kept
    assert "triggers" not in copy.source


def test_without_the_fixture_the_task_really_runs(tmp_path: Path) -> None:
    marker = tmp_path / "written.txt"
    deploy_flow(marker)
    plain = """
id: plain
namespace: t.unit
flowId: orders
testCases:
  - id: real
    fixtures: {inputs: {who: Ada}}
    assertions:
      - value: "{{ outputs.greet.value }}"
        equalTo: hello Ada 0
"""
    [result] = run_suite(parse_suite(plain), wait=driven)
    assert result.status == "passed", result.failures
    assert marker.read_text().strip() == "written"


def test_a_failing_assertion_shows_the_actual_value_and_the_command_exits_1(
    tmp_path: Path,
) -> None:
    deploy_flow(tmp_path / "m.txt")
    suite_file = tmp_path / "orders.test.yml"
    suite_file.write_text(SUITE)
    report = tmp_path / "junit.xml"
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("flow", "test", str(suite_file), "--junit-xml", str(report),
                     stdout=out, stderr=StringIO())  # fmt: skip
    assert raised.value.returncode == 1
    text = out.getvalue()
    assert "PASS  orders_tests/greets" in text
    assert "FAIL  orders_tests/wrong" in text
    assert 'expected contains "Ada", actual "hello Bob 1"' in text
    assert "1 passed, 1 failed" in text

    root = ET.parse(report).getroot()
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert set(cases) == {"greets", "wrong"}
    assert cases["greets"].find("failure") is None
    assert "hello Bob 1" in cases["wrong"].find("failure").get("message")
    assert root.find("testsuite").get("failures") == "1"


def test_a_fixture_on_an_unknown_task_is_an_error_and_nothing_runs(tmp_path: Path) -> None:
    deploy_flow(tmp_path / "m.txt")
    suite = parse_suite(SUITE.replace("- id: side_effect", "- id: nope", 1))
    [result, _] = run_suite(suite, wait=driven)
    assert result.status == "error"
    assert "fixture for unknown task(s): nope" in result.failures[0]
    assert result.execution_id is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("testCases: []", "testCases must be a non-empty list"),
        ("testCases: [{id: a, assertions: [{value: x}]}]", "exactly one operator"),
        ("testCases: [{id: a, assertions: [{value: x, equalTo: 1, contains: 1}]}]",
         "found equalTo, contains"),
        ("testCases: [{id: a, fixtures: {tasks: [{id: t, state: BROKEN}]}}]", "state must be"),
        ("testCases: [{id: a, fixture: {}}]", "unknown key(s) fixture"),
    ],
)  # fmt: skip
def test_a_bad_suite_file_says_where(body: str, message: str) -> None:
    with pytest.raises(SuiteError, match=None) as raised:
        parse_suite(f"id: s\nnamespace: n\nflowId: f\n{body}\n", "s.yml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("s.yml")


def test_the_api_runs_a_suite_and_answers_each_case(
    tmp_path: Path, django_user_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.db.api_support import YAML, authed_client, grant, problem

    deploy_flow(tmp_path / "m.txt")
    monkeypatch.setattr("flows.testsuite.runner.poll_wait", driven)
    user = django_user_model.objects.create_user(username="ana")
    grant(user, "t")
    client = authed_client(user)
    response = client.post("/api/v1/tests/run?case=wrong&timeout=5", SUITE, content_type=YAML)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["ok"] is False
    [result] = body["results"]
    assert (result["testCaseId"], result["status"]) == ("wrong", "failed")
    assert 'actual "hello Bob 1"' in result["failures"][0]

    reader = django_user_model.objects.create_user(username="rex")
    grant(reader, "t", "read")
    problem(authed_client(reader).post("/api/v1/tests/run", SUITE, content_type=YAML), 403)
    problem(client.post("/api/v1/tests/run", "id: x\n", content_type=YAML), 422)
    assert Execution.objects.filter(flow_id="orders").count() == 1  # refusals ran nothing


def test_fixture_files_are_namespace_files_and_can_feed_a_file_input() -> None:
    flow_deploy(
        source="""
id: reader
namespace: t.unit
inputs:
  - id: doc
    type: FILE
tasks:
  - id: both
    type: io.kestra.plugin.core.debug.Return
    format: "{{ read('conf/app.txt') }}+{{ read(inputs.doc) }}"
"""
    )
    suite = parse_suite(
        """
id: files
namespace: t.unit
flowId: reader
testCases:
  - id: reads
    fixtures:
      inputs: {doc: upload.csv}
      files:
        conf/app.txt: from-namespace
        upload.csv: from-input
    assertions:
      - value: "{{ outputs.both.value }}"
        equalTo: from-namespace+from-input
"""
    )
    [result] = run_suite(suite, wait=driven)
    assert result.status == "passed", result.failures


def test_the_flow_pages_tests_tab_runs_a_suite(
    tmp_path: Path, client, superuser, django_user_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.db.api_support import grant

    flow = deploy_flow(tmp_path / "m.txt")
    monkeypatch.setattr("flows.testsuite.runner.poll_wait", driven)
    client.force_login(superuser)
    url = f"/admin/flows/flow/{flow.pk}/tests/"
    assert f'href="{url}"' in client.get(f"/admin/flows/flow/{flow.pk}/change/").content.decode()

    page = client.get(url)
    assert page.status_code == 200
    starter = parse_suite(page.context["source"])  # the starter suite is a valid suite
    assert (starter.flow_id, starter.cases[0].inputs) == ("orders", {"who": "CHANGE ME"})

    page = client.post(url, {"suite": SUITE})
    html = page.content.decode()
    assert [(r.case_id, r.status) for r in page.context["results"]] == [
        ("greets", "passed"), ("wrong", "failed"),
    ]  # fmt: skip
    assert "actual &quot;hello Bob 1&quot;" in html
    assert not (tmp_path / "m.txt").exists()

    page = client.post(url, {"suite": SUITE.replace("flowId: orders", "flowId: other")})
    assert "the suite tests t.unit.other" in page.context["error"]

    reader = django_user_model.objects.create_user(username="rex", is_staff=True)
    grant(reader, "t", "read")
    client.force_login(reader)
    assert client.get(url).context["can_run"] is False
    assert client.post(url, {"suite": SUITE}).status_code == 403


def test_a_case_nothing_runs_fails_at_its_timeout_and_is_killed(tmp_path: Path) -> None:
    deploy_flow(tmp_path / "m.txt")
    [result] = run_suite(parse_suite(SUITE), case_ids={"greets"}, timeout=0.5)  # no executor

    assert result.status == "failed"
    assert "still CREATED after 0.5s (is an executor and a worker running?)" in result.failures[0]
    assert Execution.objects.get(pk=result.execution_id).state == "KILLING"
    assert not (tmp_path / "m.txt").exists()


def test_flows_from_files_are_tested_without_being_deployed(tmp_path: Path) -> None:
    marker = tmp_path / "m.txt"
    deploy_flow(marker)  # only to read its source back
    source = Flow.objects.get(flow_id="orders").source
    Flow.objects.all().delete()
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "orders.yml").write_text(source)
    suite_file = tmp_path / "orders.test.yml"
    suite_file.write_text(SUITE)
    out = StringIO()

    call_command("flow", "test", str(suite_file), "--case", "greets", "--flows",
                 str(tmp_path / "flows"), stdout=out, stderr=StringIO())  # fmt: skip

    assert "PASS  orders_tests/greets" in out.getvalue()
    assert not Flow.objects.filter(namespace__name="t.unit").exists()  # never deployed there
    with pytest.raises(CommandError, match="no flow t.unit.orders in --flows"):
        call_command("flow", "test", str(suite_file), "--flows", str(suite_file),
                     stdout=StringIO(), stderr=StringIO())  # fmt: skip
