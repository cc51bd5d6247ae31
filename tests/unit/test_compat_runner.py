"""The compatibility runner's pure parts: reading the corpus, choosing scenarios, reading
steps, converting an execution to Kestra's shape, judging and classifying."""

from __future__ import annotations

import base64
import contextlib
from pathlib import Path

import pytest

from compat.assertions import Unsupported
from compat.checks import (
    ERROR,
    FAIL,
    NOT_APPLICABLE,
    PASS,
    Context,
    Result,
    Verdict,
    check_expected,
    classify,
    evaluate_assert,
    reason_group,
    summary,
    top_reasons,
    value_from,
)
from compat.document import build_document
from compat.environment import kestra_test_env
from compat.scenarios import (
    NotApplicable,
    default_corpus,
    load_corpus,
    parse_action,
    parse_steps,
    scenario_inputs,
    select,
)

EXPECTATIONS = """
global_setup:
  config:
    kestra.variables.globals: {string: other}
synthetic_entries:
  - file: flows-synthetic/slow.yaml
    category: timeout
    scenarios:
      - {name: timeout, inputs_mode: none, expected: {state: FAILED}}
entries:
  - file: inputs.yaml
    category: inputs
    base_inputs: {string: myString, int: '42', file: '<local path of application-test.yml>'}
    scenarios:
      - {name: typed, inputs_mode: validated, inputs: '<base_inputs minus int>'}
      - {name: empty-json, inputs_mode: validated, inputs: '<base_inputs with int: "7">'}
      - {name: words, inputs_mode: raw, inputs: '<what the test computes>'}
    input_errors:
      - {override: {int: x}, error_contains: 'Invalid input for `int`'}
      - {via_api: 'multipart', http: 422}
  - file: pause.yaml
    category: pause
    setup:
      templates: [{id: t, namespace: io.kestra.tests, tasks: []}]
    scenarios:
      - name: resume
        run_until: PAUSED
        steps:
          - {action: 'ExecutionService.resume(execution, RUNNING) then emit', expected: {state: SUCCESS}}
"""


@pytest.fixture
def corpus(tmp_path: Path):
    (tmp_path / "expectations.yaml").write_text(EXPECTATIONS)
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "inputs.yaml").write_text("id: inputs\n")
    return load_corpus(tmp_path)


def test_the_corpus_reads_into_scenarios_input_errors_included(corpus) -> None:
    # Given a corpus, when it is loaded, then synthetic entries come first and every
    # input_errors case is a scenario of its own
    assert [s.key for s in corpus.scenarios] == [
        "flows-synthetic/slow.yaml:timeout",
        "inputs.yaml:typed",
        "inputs.yaml:empty-json",
        "inputs.yaml:words",
        "inputs.yaml:input-error-1-int",
        "inputs.yaml:input-error-2-api",
        "pause.yaml:resume",
    ]
    assert corpus.templates() == [{"id": "t", "namespace": "io.kestra.tests", "tasks": []}]
    assert [p.name for p in corpus.flow_files()] == ["inputs.yaml"]


def test_an_extra_folder_in_the_same_format_keeps_its_scenarios_apart(tmp_path) -> None:
    # Given a folder of extra flows and expectations (the format of Kestra's corpus)
    extra = tmp_path / "more-kestra-tests"
    (extra / "flows").mkdir(parents=True)
    (extra / "flows" / "hello.yaml").write_text("id: hello\nnamespace: io.kestra.more\n")
    (extra / "expectations.yaml").write_text(
        "entries:\n  - file: hello.yaml\n    scenarios:\n"
        "      - {name: run, expected: {state: SUCCESS}}\n"
    )

    # When it is loaded as an extra corpus
    more = load_corpus(extra, origin=extra.name)

    # Then its scenarios are named after the folder, so reports never mix them up
    assert [s.key for s in more.scenarios] == ["more-kestra-tests/hello.yaml:run"]
    assert more.origin == "more-kestra-tests"
    assert [p.name for p in more.flow_files()] == ["hello.yaml"]
    with pytest.raises(FileNotFoundError):
        load_corpus(tmp_path / "nowhere")


def test_selection_by_substring_or_category(corpus) -> None:
    assert [s.key for s in select(corpus.scenarios, "RESUME")] == ["pause.yaml:resume"]
    assert len(select(corpus.scenarios, "inputs")) == 5
    assert [s.name for s in select(corpus.scenarios, "timeout")] == ["timeout"]
    assert len(select(corpus.scenarios, None)) == len(corpus.scenarios)


def test_inputs_expand_base_inputs_and_file_placeholders(corpus) -> None:
    by_name = {s.name: s for s in corpus.scenarios}
    typed = scenario_inputs(by_name["typed"])
    assert typed.mode == "validated"
    assert typed.values == {"string": "myString"}
    assert typed.files["file"][0] == "application-test.yml"
    assert scenario_inputs(by_name["empty-json"]).values == {"string": "myString", "int": "7"}
    assert scenario_inputs(by_name["input-error-1-int"]).values == {
        "string": "myString",
        "int": "x",
    }
    assert scenario_inputs(by_name["timeout"]).mode == "none"
    with pytest.raises(NotApplicable, match="inputs given in words"):
        scenario_inputs(by_name["words"])


@pytest.mark.parametrize(
    ("action", "kind", "args"),
    [
        ("wait (no action)", "wait", {}),
        ("emit restarted execution; wait", "wait", {}),
        ("ExecutionService.restart(execution, revision=null)  (API: POST /x)", "restart", {}),
        ("POST /api/v1/executions/{id}/restart", "restart", {}),
        ("ExecutionService.replay(execution, taskRunId=null)", "replay", {"target": None}),
        (
            "ExecutionService.replay(execution, taskrun('1-2_each', [s1]).id)",
            "replay",
            {"target": "taskrun('1-2_each', [s1]).id"},
        ),
        ("DELETE /api/v1/executions/{id}/kill", "kill", {}),
        (
            'ExecutionService.resume(execution, RUNNING, multipart {asked: "restarted", '
            "files: data=<bytes of the execution id>}) then emit",
            "resume",
            {
                "emit": " then emit",
                "inputs": {"asked": "restarted"},
                "files": {"data": "<bytes of the execution id>"},
            },
        ),
        (
            "ExecutionService.markAs(execution, taskrun('pause').id, RUNNING) then emit",
            "resume",
            {"task": "pause", "emit": " then emit"},
        ),
        (
            "run pause.yaml until PAUSED (id P)",
            "run",
            {"flow": "pause", "until": "PAUSED", "name": "P"},
        ),
        (
            "run resume-execution with raw inputs {executionId: P}",
            "run",
            {"flow": "resume-execution", "inputs": {"executionId": "P"}},
        ),
        (
            "start execution 1, wait until RUNNING; emit execution 2",
            "start",
            {"name": "1", "until": "RUNNING", "then": "2"},
        ),
    ],
)
def test_machine_readable_steps(action: str, kind: str, args: dict) -> None:
    parsed = parse_action(action)
    assert (parsed.kind, dict(parsed.args)) == (kind, args)


@pytest.mark.parametrize(
    "action",
    [
        "DELETE /api/v1/executions/{id}",
        "ExecutionService.resume(paused execution, KILLING)",
        "run minimal twice, then POST /api/v1/executions/replay/by-ids [id1,id2]",
        "update the flow (task a replaced) -> revision 2; ExecutionService.restart(execution, revision=2)",
    ],
)
def test_steps_in_words_are_not_applicable(action: str) -> None:
    with pytest.raises(NotApplicable, match="not machine-readable"):
        parse_action(action)


def test_every_step_of_the_real_corpus_is_read_or_declined() -> None:
    root = default_corpus()
    if not (root / "expectations.yaml").exists():
        pytest.skip("no Kestra corpus here")
    corpus = load_corpus(root)
    assert len(corpus.scenarios) > 100
    readable = 0
    for scenario in corpus.scenarios:
        with contextlib.suppress(NotApplicable):
            readable += bool(parse_steps(scenario.spec.get("steps") or ()))
    assert readable >= 10


# --------------------------------------------------------------------------- documents

EXECUTION = {
    "id": "e1",
    "namespace": "io.kestra.tests",
    "flow_id": "f",
    "flow_revision": 1,
    "state": "FAILED",
    "state_history": [
        {"state": "CREATED", "date": "2024-01-01T00:00:00Z"},
        {"state": "RUNNING", "date": "2024-01-01T00:00:01Z"},
        {"state": "FAILED", "date": "2024-01-01T00:00:02Z"},
    ],
    "inputs": {"a": 1},
    "outputs": {},
    "labels": {"flow-label": "x", "system.correlationId": "e1"},
    "trigger": None,
    "parent_execution_id": None,
}
RUNS = [
    {"id": "r1", "task_id": "seq", "state": "FAILED", "state_history": [], "outputs": {}},
    {"id": "r2", "task_id": "t1", "parent_id": "r1", "value": "v", "state": "SUCCESS",
     "state_history": [{"state": "SUCCESS", "date": "d"}], "outputs": {"value": "ok"}},
    {"id": "r3", "task_id": "t2", "parent_id": "r1", "state": "FAILED", "state_history": [],
     "outputs": {}},
]  # fmt: skip
ATTEMPTS = {
    "r2": [{"state": "SUCCESS", "started_at": None, "ended_at": None}],
    "r3": [{"state": "FAILED"}, {"state": "FAILED"}],
}


def doc() -> dict:
    return build_document(EXECUTION, RUNS, ATTEMPTS)


def test_rows_become_kestras_execution_shape() -> None:
    d = doc()
    assert d["flowId"] == "f"
    assert d["state"]["current"] == "FAILED"
    assert [h["state"] for h in d["state"]["histories"]] == ["CREATED", "RUNNING", "FAILED"]
    assert d["labels"] == [
        {"key": "flow-label", "value": "x"},
        {"key": "system.correlationId", "value": "e1"},
    ]
    assert d["outputs"] is None  # no flow outputs is null, as in Kestra
    seq, t1, t2 = d["taskRunList"]
    assert seq["attempts"] is None
    assert seq["outputs"] is None
    assert t1["parentTaskRunId"] == "r1"
    assert t1["value"] == "v"
    assert t1["attempts"][0]["state"]["current"] == "SUCCESS"
    assert len(t2["attempts"]) == 2


def judge(expected: dict, logs: list | None = None, tokens: dict | None = None) -> Result:
    verdict = Verdict()
    check_expected(expected, Context(doc(), logs or [], tokens or {"EXECUTION_ID": "e1"}), verdict)
    return classify("f.yaml:run", verdict)


def test_all_expectations_met_is_a_pass() -> None:
    result = judge(
        {
            "state": "FAILED",
            "taskrun_count": 3,
            "hint": {"state": "whatever"},
            "asserts": [
                {"path": "taskrun(t1).outputs.value", "op": "eq", "value": "ok"},
                {"path": "taskrun(t2).attempts", "op": "size", "value": 2},
                {"path": "taskRunList[0].attempts", "op": "is_null"},
                {
                    "path": "execution.labels",
                    "op": "has_items",
                    "value": [{"key": "system.correlationId", "value": "<EXECUTION_ID>"}],
                },
            ],  # fmt: skip
            "logs": [{"taskrun": "taskrun(t2)", "op": "contains", "value": "boom"}],
        },
        logs=[{"taskRunId": "r3", "level": "ERROR", "message": "it went boom"}],
    )
    assert (result.category, result.reason) == (PASS, "")


def test_the_first_failing_check_is_reported_with_the_actual_value() -> None:
    result = judge({"state": "SUCCESS", "taskrun_count": {"gte": 5}})
    assert result.category == FAIL
    assert result.reason == "state: expected SUCCESS, got FAILED (+1 more)"
    assert result.actual == "FAILED"


def test_an_unsupported_expectation_makes_it_not_applicable_never_a_pass() -> None:
    result = judge({"state": "FAILED", "error_eq": "Cannot find secret"})
    assert result.category == NOT_APPLICABLE
    assert "error_eq" in result.reason
    assert judge({"state": "unknown"}).category == NOT_APPLICABLE  # nothing was checked


def test_special_values_and_extended_paths() -> None:
    ctx = Context(doc(), [], {"EXECUTION_ID": "e1"})
    assert evaluate_assert(
        {"path": "taskRunList[1].id", "op": "eq", "value": "<TASKRUN_ID:t1>"}, ctx
    )[0]
    assert evaluate_assert(
        {"path": "count(taskRunList[*].state == FAILED)", "op": "gte", "value": 2}, ctx
    )[0]
    ok, actual, _ = evaluate_assert(
        {"path": "all taskRunList[*].state", "op": "eq", "value": "SUCCESS"}, ctx
    )
    assert not ok
    assert actual == ["FAILED", "SUCCESS", "FAILED"]
    assert value_from(doc(), "'get ' + taskrun(t1).outputs.value") == "get ok"


def test_file_content_is_read_through_the_given_reader() -> None:
    d = doc()
    d["taskRunList"][1]["outputs"] = {"uri": "kestra:///x/data"}
    files = {"kestra:///x/data": "e1"}
    path = {"path": "content(taskrun(t1).outputs.uri)", "op": "eq", "value": "<EXECUTION_ID>"}
    assert evaluate_assert(path, Context(d, [], {"EXECUTION_ID": "e1"}, read=files.get))[0]
    with pytest.raises(Unsupported):
        evaluate_assert(path, Context(d, [], {"EXECUTION_ID": "e1"}))


def test_typed_inputs_with_encrypted_values() -> None:
    assert judge({"typed_inputs": {"a": 1}}).category == PASS
    assert judge({"typed_inputs": {"a": '<encrypted, != "1">'}}).category == FAIL


def test_summary_and_grouped_reasons() -> None:
    results = [
        Result("a", PASS),
        Result("b", FAIL, "state: expected SUCCESS, got FAILED"),
        Result("c", FAIL, "state: expected SUCCESS, got FAILED"),
        Result("d", ERROR, "KeyError: 'x'"),
        Result("e", NOT_APPLICABLE, "needs Kestra test-only task type X"),
    ]
    figures = summary(results)
    assert (figures["passed"], figures["total"], figures["percent"]) == (1, 5, 20.0)
    assert top_reasons(results)[0] == ("fail: state: expected SUCCESS, got FAILED", 2)
    assert all("not applicable" not in reason for reason, _ in top_reasons(results))
    same = Result("f", FAIL, "taskRunList[3].state eq: expected RESTARTED, got CREATED (+1 more)")
    assert reason_group(same) == "taskRunList[N].state eq: expected RESTARTED, got CREATED"


def test_the_environment_kestras_tests_have() -> None:
    env = kestra_test_env({"config": {"kestra.variables.globals": {"string": "other"}}})
    assert base64.b64decode(env["SECRET_MY_SECRET"]) == b'{"secretKey":"secretValue"}'
    long = base64.b64decode(env["SECRET_NEW_LINE"].replace("\n", "")).decode()
    assert long == "passwordveryveryveyrlong" * 5
    assert "\n" in env["SECRET_NEW_LINE"]
    assert env["KESTRA_TEST2"] == "Pass by env"
    assert env["TRELLIS_GLOBALS"] == '{"string": "other"}'
    assert env["SECRET_PASSWORD"] == "cGFzc3dvcmQ="
