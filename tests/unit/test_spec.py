"""kernel.spec.parse: YAML -> validated FlowSpec, with every problem's path, line and column."""

from __future__ import annotations

import sys
import textwrap
import types
from collections.abc import Mapping
from typing import Any

import pytest

from kernel.plugin import FlowableTask, Prop, RunnableTask, TriggerType
from kernel.registry import registry
from kernel.spec.model import FlowSpec, SpecError, TemplateSpec
from kernel.spec.parse import parse_flow, parse_template, split_documents

# ----------------------------------------------------------------------------- test plugins

NS = "tests.spec"


class Log(RunnableTask):
    type = f"{NS}.Log"
    aliases = ("tests.legacy.Log",)
    properties = (
        Prop("message", "any", required=True),
        Prop("level", choices=("TRACE", "DEBUG", "INFO", "WARN", "ERROR")),
    )


class Kitchen(RunnableTask):
    type = f"{NS}.Kitchen"
    properties = (
        Prop("count", "integer"),
        Prop("ratio", "number"),
        Prop("flag", "boolean"),
        Prop("wait", "duration"),
        Prop("names", "list", items="string"),
        Prop("headers", "map"),
        Prop("mode", choices=("FAST", "SLOW")),
        Prop("payload", "any"),
        Prop("url", aliases=("uri",)),
        Prop("legacy", deprecated="use `url`"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        count = props.get("count")
        if isinstance(count, int) and count > 10:
            return [("count", "count must be at most 10")]
        return []


class Sequential(FlowableTask):
    type = f"{NS}.Sequential"
    properties = (
        Prop("tasks", "tasks", required=True),
        Prop("errors", "tasks"),
        Prop("finally", "tasks"),
    )


class If(FlowableTask):
    type = f"{NS}.If"
    properties = (
        Prop("condition", required=True),
        Prop("then", "tasks", required=True),
        Prop("else", "tasks"),
    )


class Switch(FlowableTask):
    type = f"{NS}.Switch"
    properties = (
        Prop("value", required=True),
        Prop("cases", "task_map"),
        Prop("defaults", "tasks"),
    )


class Dag(FlowableTask):
    type = f"{NS}.Dag"
    properties = (Prop("tasks", "dag", required=True), Prop("concurrent", "integer"))


class Schedule(TriggerType):
    type = f"{NS}.Schedule"
    trigger_kind = "schedule"
    properties = (
        Prop("cron", required=True),
        Prop("timezone"),
        Prop("withSeconds", "boolean"),
        Prop("inputs", "map"),
    )


class Webhook(TriggerType):
    type = f"{NS}.Webhook"
    properties = (Prop("key", required=True),)


@pytest.fixture(autouse=True)
def test_plugins(monkeypatch):
    """Register the throwaway types above for one test, on a copy of the registry's table."""
    registry.all()  # load the built-ins first, so the copy holds them
    monkeypatch.setattr(registry, "_by_name", dict(registry._by_name))
    for cls in (Log, Kitchen, Sequential, If, Switch, Dag, Schedule, Webhook):
        registry.register(cls)


HEAD = "id: f\nnamespace: company.team\n"


def doc(body: str) -> str:
    """HEAD (lines 1-2) followed by ``body``: line 3 of the document is body's first line."""
    return HEAD + textwrap.dedent(body).lstrip("\n")


def problems(source: str | bytes) -> list:
    with pytest.raises(SpecError) as caught:
        parse_flow(source, filename="flow.yaml")
    return caught.value.problems


LOG = "    type: tests.spec.Log\n"

# ----------------------------------------------------------------------------- invalid documents

# (name, document, path, line, col or None, message fragment)
INVALID = [
    ("missing id", "namespace: a\ntasks:\n  - id: t\n    type: tests.spec.Log\n    message: m\n",
     "id", 1, 1, "missing `id`"),
    ("bad flow id", "id: -bad\nnamespace: a\ntasks: [{id: t, type: tests.spec.Log, message: m}]\n",
     "id", 1, 5, "invalid id '-bad'"),
    ("flow id too long", f"id: {'a' * 101}\nnamespace: a\ntasks: [{{id: t, type: tests.spec.Log, message: m}}]\n",
     "id", 1, 5, "the limit is 100"),
    ("upper-case namespace", "id: f\nnamespace: Company.Team\ntasks: [{id: t, type: tests.spec.Log, message: m}]\n",
     "namespace", 2, 12, "invalid namespace 'Company.Team'"),
    ("no tasks", HEAD + "description: nothing\n", "tasks", 1, 1, "at least one task"),
    ("empty tasks", doc("tasks: []\n"), "tasks", 3, 8, "at least one task"),
    ("task is a string", doc("tasks:\n  - just words\n"), "tasks[0]", 4, 5, "must be a mapping"),
    ("task without id", doc("tasks:\n  - type: tests.spec.Log\n    message: m\n"),
     "tasks[0].id", 4, 5, "missing task `id`"),
    ("task id with a space", doc("tasks:\n  - id: a b\n" + LOG + "    message: m\n"),
     "tasks[0].id", 4, 9, "invalid task id 'a b'"),
    ("duplicate id in errors", doc("tasks:\n  - id: a\n" + LOG + "    message: m\nerrors:\n  - id: a\n" + LOG + "    message: m\n"),
     "errors[0].id", 8, 9, "duplicate task id 'a' (first used on line 4)"),
    ("ids differing by case", doc("tasks:\n  - id: step\n" + LOG + "    message: m\n  - id: Step\n" + LOG + "    message: m\n"),
     "tasks[1].id", 7, 9, "differs only by case from 'step'"),
    ("missing type", doc("tasks:\n  - id: a\n    message: m\n"), "tasks[0].type", 4, 5, "missing task `type`"),
    ("unknown type", doc("tasks:\n  - id: a\n    type: tests.spec.Lgo\n    message: m\n"),
     "tasks[0].type", 5, 11, "did you mean 'tests.spec.Log'?"),
    ("trigger type as a task", doc("tasks:\n  - id: a\n    type: tests.spec.Webhook\n"),
     "tasks[0].type", 5, 11, "is not a task type"),
    ("missing required property", doc("tasks:\n  - id: a\n" + LOG), "tasks[0].message", 4, 5,
     "missing required property 'message'"),
    ("unknown property", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    mesage: hi\n"), "tasks[0].mesage", 7, 5,
     "did you mean 'message'?"),
    ("integer kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    count: ten\n"),
     "tasks[0].count", 6, 12, "must be an integer"),
    ("number kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    ratio: [1]\n"),
     "tasks[0].ratio", 6, 12, "must be a number, not a list"),
    ("boolean kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    flag: maybe\n"),
     "tasks[0].flag", 6, 11, "must be true or false"),
    ("duration kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    wait: 5 minutes\n"),
     "tasks[0].wait", 6, 11, "ISO-8601 duration"),
    ("list kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    names: solo\n"),
     "tasks[0].names", 6, 12, "must be a list"),
    ("list item kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    names:\n      - a\n      - {b: 1}\n"),
     "tasks[0].names[1]", 8, 9, "must be a string, not a mapping"),
    ("map kind", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    headers: [a]\n"),
     "tasks[0].headers", 6, 14, "must be a mapping"),
    ("choices", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    mode: MEDIUM\n"),
     "tasks[0].mode", 6, 11, "must be one of FAST, SLOW"),
    ("plugin validate()", doc("tasks:\n  - id: k\n    type: tests.spec.Kitchen\n    count: 11\n"),
     "tasks[0].count", 6, 12, "count must be at most 10"),
    ("nested unknown property", doc("""
        tasks:
          - id: seq
            type: tests.spec.Sequential
            tasks:
              - id: inner
                type: tests.spec.Log
                message: m
                mesage: hi
        """), "tasks[0].tasks[0].mesage", 10, 9, "unknown property 'mesage'"),
    ("If without then", doc("tasks:\n  - id: i\n    type: tests.spec.If\n    condition: '{{ true }}'\n"),
     "tasks[0].then", 4, 5, "missing required property 'then'"),
    ("Switch cases as a list", doc("tasks:\n  - id: s\n    type: tests.spec.Switch\n    value: x\n    cases: [a]\n"),
     "tasks[0].cases", 7, 12, "cases must be a mapping"),
    ("problem inside a Switch case", doc("""
        tasks:
          - id: s
            type: tests.spec.Switch
            value: x
            cases:
              A:
                - id: a
                  type: tests.spec.Nope
        """), "tasks[0].cases.A[0].type", 10, 17, "unknown type 'tests.spec.Nope'"),
    ("dag cycle", doc("""
        tasks:
          - id: dag
            type: tests.spec.Dag
            tasks:
              - task: {id: task1, type: tests.spec.Log, message: m}
                dependsOn: [task2]
              - task: {id: task2, type: tests.spec.Log, message: m}
                dependsOn: [task1]
        """), "tasks[0].tasks[0].dependsOn", 8, 20, "dag: Cyclic dependency detected: task1, task2"),
    ("dag unknown dependency", doc("""
        tasks:
          - id: dag
            type: tests.spec.Dag
            tasks:
              - task: {id: task1, type: tests.spec.Log, message: m}
                dependsOn: [taskX]
        """), "tasks[0].tasks[0].dependsOn", 8, 20, "dag: Not existing task id in dependency: taskX"),
    ("dag item without task", doc("tasks:\n  - id: dag\n    type: tests.spec.Dag\n    tasks:\n      - dependsOn: []\n"),
     "tasks[0].tasks[0].task", 7, 9, "needs a `task`"),
    ("retry type", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    retry:\n      type: linear\n"),
     "tasks[0].retry.type", 8, 13, "unknown retry type 'linear'"),
    ("retry without interval", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    retry:\n      type: constant\n"),
     "tasks[0].retry.interval", 8, 7, "a constant retry needs `interval`"),
    ("retry maxAttempt kind", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    retry: {type: constant, interval: PT1S, maxAttempt: three}\n"),
     "tasks[0].retry.maxAttempt", 7, 57, "must be an integer"),
    ("timeout", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    timeout: 10s\n"),
     "tasks[0].timeout", 7, 14, "ISO-8601 duration"),
    ("logLevel", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    logLevel: LOUD\n"),
     "tasks[0].logLevel", 7, 15, "must be one of ERROR, WARN, INFO, DEBUG, TRACE"),
    ("workerGroup without key", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    workerGroup: {}\n"),
     "tasks[0].workerGroup.key", 7, 18, "needs a `key`"),
    ("allowFailure kind", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    allowFailure: sometimes\n"),
     "tasks[0].allowFailure", 7, 19, "must be true or false"),
    ("input type", doc("inputs:\n  - id: x\n    type: strin\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[0].type", 5, 11, "did you mean 'STRING'?"),
    ("duplicate input", doc("inputs:\n  - id: x\n    type: STRING\n  - id: x\n    type: INT\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[1].id", 6, 9, "duplicate input id 'x'"),
    ("input without type", doc("inputs:\n  - id: x\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[0].type", 4, 5, "needs a `type`"),
    ("input without id", doc("inputs:\n  - type: STRING\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[0].id", 4, 5, "needs an `id`"),
    ("input validator regex", doc("inputs:\n  - id: x\n    type: STRING\n    validator: 'a('\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[0].validator", 6, 16, ""),
    ("trigger type", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedul\n"),
     "triggers[0].type", 6, 11, "did you mean 'tests.spec.Schedule'?"),
    ("cron field count", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedule\n    cron: '0 * * *'\n"),
     "triggers[0].cron", 7, 11, "expected 5 fields"),
    ("cron values", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedule\n    cron: '61 * * * *'\n"),
     "triggers[0].cron", 7, 11, "invalid cron expression '61 * * * *'"),
    ("six cron fields without withSeconds", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedule\n    cron: '0 0 * * * *'\n"),
     "triggers[0].cron", 7, 11, "6 with `withSeconds: true`"),
    ("timezone", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedule\n    cron: '@daily'\n    timezone: Mars/Olympus\n"),
     "triggers[0].timezone", 8, 15, "unknown timezone 'Mars/Olympus'"),
    ("trigger without id", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - type: tests.spec.Webhook\n    key: k\n"),
     "triggers[0].id", 5, 5, "needs an `id`"),
    ("trigger property", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: w\n    type: tests.spec.Webhook\n    key: k\n    secret: s\n"),
     "triggers[0].secret", 8, 5, "unknown property 'secret'"),
    ("task type as trigger", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: w\n    type: tests.spec.Log\n"),
     "triggers[0].type", 6, 11, "is a task type, not a trigger type"),
    ("label without value", doc("labels:\n  - key: team\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "labels[0].value", 4, 5, "needs a `value`"),
    ("label with a mapping value", doc("labels:\n  team: {a: b}\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "labels.team", 4, 9, "needs a plain value"),
    ("plugin default without values", doc("pluginDefaults:\n  - type: tests.spec.Log\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "pluginDefaults[0].values", 4, 5, "needs `values`"),
    ("plugin default that breaks a task", doc("pluginDefaults:\n  - type: tests.spec\n    values:\n      mode: MEDIUM\ntasks: [{id: k, type: tests.spec.Kitchen}]\n"),
     "tasks[0].mode", 6, 13, "must be one of FAST, SLOW"),
    ("concurrency behavior", doc("concurrency: {limit: 1, behavior: DROP}\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "concurrency.behavior", 3, 35, "must be one of QUEUE, CANCEL, FAIL"),
    ("concurrency limit", doc("concurrency: {limit: 0}\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "concurrency.limit", 3, 22, "at least 1"),
    ("output without value", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\noutputs:\n  - id: o\n    type: STRING\n"),
     "outputs[0].value", 5, 5, "needs a `value`"),
    ("expression in a task", doc("tasks:\n  - id: a\n" + LOG + "    message: 'Hello {{ name }'\n"),
     "tasks[0].message", 6, 14, "invalid expression"),
    ("expression in variables", doc("variables:\n  greeting: '{% if x %}yes'\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "variables.greeting", 4, 13, "invalid expression"),
    ("expression in an input default", doc("inputs:\n  - id: x\n    type: STRING\n    defaults: '{{ 1 + }}'\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs[0].defaults", 6, 15, "invalid expression"),
    ("expression in a trigger", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\ntriggers:\n  - id: t\n    type: tests.spec.Schedule\n    cron: '@daily'\n    inputs: {day: '{{ trigger.date | }}'}\n"),
     "triggers[0].inputs.day", 8, 19, "invalid expression"),
    ("unknown top-level key", doc("varibles: {}\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "varibles", 3, 1, "did you mean 'variables'?"),
    ("duplicate key", doc("tasks:\n  - id: a\n" + LOG + "    message: m\n    message: n\n"),
     "", 7, 5, "duplicate key 'message' (first defined on line 6)"),
    ("listener task", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\nlisteners:\n  - tasks:\n      - id: l\n        type: tests.spec.Log\n"),
     "listeners[0].tasks[0].message", 6, 9, "missing required property"),
    ("finally task", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\nfinally:\n  - id: a\n" + LOG + "    message: m\n"),
     "finally[0].id", 5, 9, "duplicate task id 'a'"),
    ("afterExecution task", doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\nafterExecution:\n  - id: b\n    type: tests.spec.Kitchen\n    flag: 3\n"),
     "afterExecution[0].flag", 7, 11, "must be true or false"),
    ("flow disabled kind", doc("disabled: nope\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "disabled", 3, 11, "must be true or false"),
    ("variables as a list", doc("variables: [a]\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "variables", 3, 12, "variables must be a mapping"),
    ("inputs as a mapping", doc("inputs: {x: STRING}\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"),
     "inputs", 3, 9, "inputs must be a list"),
    ("case list not a list", doc("tasks:\n  - id: s\n    type: tests.spec.Switch\n    value: x\n    cases:\n      A: oops\n"),
     "tasks[0].cases.A", 8, 10, "a task list must be a list"),
    ("flowable errors child", doc("""
        tasks:
          - id: seq
            type: tests.spec.Sequential
            tasks: [{id: a, type: tests.spec.Log, message: m}]
            errors:
              - id: seq
                type: tests.spec.Log
                message: m
        """), "tasks[0].errors[0].id", 8, 13, "duplicate task id 'seq'"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "path", "line", "col", "fragment"),
    [pytest.param(*case[1:], id=case[0]) for case in INVALID],
)
def test_an_invalid_document_reports_where_the_problem_is(source, path, line, col, fragment):
    # Given a document with one problem, when it is parsed, then the problem names its place
    found = problems(source)

    assert [(p.path, p.line, p.col) for p in found] == [(path, line, col)], found
    assert fragment in found[0].message
    assert found[0].filename == "flow.yaml"


def test_enough_invalid_documents_are_covered():
    assert len(INVALID) >= 40


# ----------------------------------------------------------------------------- loading refusals


@pytest.mark.parametrize(
    ("source", "line", "col", "fragment"),
    [
        pytest.param(HEAD + "x: &a [1]\ntasks: *a\n", 3, 4, "anchors", id="anchor"),
        pytest.param(HEAD + "tasks: *a\n", 3, 8, "aliases", id="alias"),
        pytest.param(
            HEAD + "tasks: []\n---\nid: g\n", 4, 1, "one flow per document", id="two docs"
        ),
        pytest.param(HEAD + "tasks: [\n", 4, 1, "invalid YAML", id="syntax"),
        pytest.param(
            HEAD.encode() + b"description: caf\xe9\n", 3, 17, "not valid UTF-8", id="latin-1"
        ),
        pytest.param("- id: a\n", 1, 1, "not a mapping", id="a list"),
        pytest.param("", 1, 1, "empty", id="empty"),
        pytest.param(HEAD + "tasks: !!python/object:os.system 1\n", 3, 8, "tag", id="tag"),
    ],
)
def test_unsafe_or_unreadable_yaml_is_refused(source, line, col, fragment):
    found = problems(source)

    assert [(p.line, p.col) for p in found if fragment in p.message] == [(line, col)], found


def test_an_alias_bomb_is_refused_without_expanding_it():
    # Given the "billion laughs" document
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i, name in enumerate("bcdefghi"):
        prev = "abcdefghi"[i]
        lines.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    # When it is parsed, then the first anchor stops it
    found = problems("\n".join(lines))

    assert [(p.line, p.col) for p in found] == [(1, 4)]


def test_a_document_over_one_mebibyte_is_refused():
    source = doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\n") + "#" * (1024 * 1024)

    found = problems(source)

    assert "the limit is 1048576" in found[0].message


# ----------------------------------------------------------------------------- every problem at once


def test_every_problem_is_reported_at_once_in_document_order():
    source = doc("""
        inputs:
          - id: x
            type: NUMBER
        tasks:
          - id: a
            type: tests.spec.Log
          - id: a
            type: tests.spec.Kitchen
            count: many
            wait: soon
        triggers:
          - id: t
            type: tests.spec.Schedule
            cron: every day
        """)

    found = problems(source)

    assert [(p.path, p.line) for p in found] == [
        ("inputs[0].type", 5),
        ("tasks[0].message", 7),
        ("tasks[1].id", 9),
        ("tasks[1].count", 11),
        ("tasks[1].wait", 12),
        ("triggers[0].cron", 16),
    ]
    assert str(found[0]).startswith("flow.yaml:5:11: unknown input type 'NUMBER'")


def test_the_kestra_invalid_dag_flows_have_one_violation_each():
    cyclic = doc("""
        tasks:
          - id: dag
            type: tests.spec.Dag
            tasks:
              - task: {id: task1, type: tests.spec.Log, message: one}
                dependsOn: [task2]
              - task: {id: task2, type: tests.spec.Log, message: two}
                dependsOn: [task1]
              - task: {id: task3, type: tests.spec.Log, message: three}
                dependsOn: [task1]
        """)
    missing = doc("""
        tasks:
          - id: dag
            type: tests.spec.Dag
            tasks:
              - task: {id: task1, type: tests.spec.Log, message: one}
              - task: {id: task2, type: tests.spec.Log, message: two}
                dependsOn: [taskX]
        """)

    assert [p.message for p in problems(cyclic)] == [
        "dag: Cyclic dependency detected: task1, task2"
    ]
    assert [p.message for p in problems(missing)] == [
        "dag: Not existing task id in dependency: taskX"
    ]


# ----------------------------------------------------------------------------- valid documents


def test_a_valid_flow_becomes_a_flow_spec_with_nested_children():
    source = doc("""
        description: Everything at once
        labels:
          team: data
          tier: 1
        variables:
          greeting: "Hello {{ inputs.name }}"
        inputs:
          - id: name
            type: STRING
            defaults: world
          - id: when
            type: DATETIME
            required: false
        tasks:
          - id: seq
            type: tests.spec.Sequential
            tasks:
              - id: hello
                type: tests.spec.Log
                message: "{{ vars.greeting }}"
                retry: {type: constant, interval: PT1S, maxAttempt: 3}
                timeout: PT5M
                allowFailure: true
                logLevel: WARN
                workerGroup: {key: gpu}
            errors:
              - id: oops
                type: tests.spec.Log
                message: failed
          - id: branch
            type: tests.spec.If
            condition: "{{ inputs.name == 'world' }}"
            then: [{id: yes, type: tests.spec.Log, message: y}]
            else: [{id: no, type: tests.spec.Log, message: n}]
          - id: pick
            type: tests.spec.Switch
            value: "{{ inputs.name }}"
            cases:
              A: [{id: case-a, type: tests.spec.Log, message: a}]
            defaults: [{id: other, type: tests.spec.Log, message: o}]
          - id: dag
            type: tests.spec.Dag
            tasks:
              - task: {id: d1, type: tests.spec.Log, message: one}
              - task: {id: d2, type: tests.spec.Log, message: two}
                dependsOn: [d1]
        finally:
          - id: bye
            type: tests.spec.legacy.Log
            message: bye
        triggers:
          - id: nightly
            type: tests.spec.Schedule
            cron: "0 2 * * *"
            timezone: Europe/Paris
        outputs:
          - id: result
            type: STRING
            value: "{{ outputs.hello }}"
        concurrency: {limit: 2, behavior: CANCEL}
        """).replace("tests.spec.legacy.Log", "tests.legacy.Log")

    spec = parse_flow(source)

    assert isinstance(spec, FlowSpec)
    assert (spec.id, spec.namespace, spec.description) == (
        "f",
        "company.team",
        "Everything at once",
    )
    assert spec.labels == {"team": "data", "tier": "1"}
    assert spec.variables == {"greeting": "Hello {{ inputs.name }}"}
    assert [(i.id, i.type, i.required) for i in spec.inputs] == [
        ("name", "STRING", True),
        ("when", "DATETIME", False),
    ]
    assert spec.inputs[0].options == {"defaults": "world"}
    seq, branch, pick, dag = spec.tasks
    assert seq.children.keys() == {"tasks", "errors"}
    hello = seq.children["tasks"][0]
    assert (hello.path, hello.line, hello.col) == ("tasks[0].tasks[0]", 20, 9)
    assert hello.properties == {"message": "{{ vars.greeting }}"}
    assert hello.retry == {"type": "constant", "interval": "PT1S", "maxAttempt": 3}
    assert (hello.timeout, hello.allow_failure, hello.log_level, hello.worker_group) == (
        "PT5M",
        True,
        "WARN",
        "gpu",
    )
    assert [t.id for t in seq.walk()] == ["seq", "hello", "oops"]
    assert branch.properties == {"condition": "{{ inputs.name == 'world' }}"}
    assert {k: [t.id for t in v] for k, v in branch.children.items()} == {
        "then": ["yes"],
        "else": ["no"],
    }
    assert {k: [t.id for t in v] for k, v in pick.children.items()} == {
        "cases.A": ["case-a"],
        "defaults": ["other"],
    }
    assert [t.id for t in dag.children["tasks"]] == ["d1", "d2"]
    assert dag.properties == {"dependsOn": {"d1": [], "d2": ["d1"]}}
    assert dag.children["tasks"][1].path == "tasks[3].tasks[1].task"
    bye = spec.finally_[0]
    assert (bye.type, bye.raw_type) == ("tests.spec.Log", "tests.legacy.Log")
    assert spec.triggers[0].type == "tests.spec.Schedule"
    assert spec.triggers[0].properties == {"cron": "0 2 * * *", "timezone": "Europe/Paris"}
    assert spec.outputs == ({"id": "result", "type": "STRING", "value": "{{ outputs.hello }}"},)
    assert spec.concurrency == {"limit": 2, "behavior": "CANCEL"}
    assert spec.task("case-a").path == "tasks[2].cases.A[0]"
    assert spec.warnings == ()


def test_labels_as_a_list_of_key_value_pairs():
    spec = parse_flow(
        doc("""
        labels:
          - key: team
            value: data
          - key: on
            value: true
        tasks: [{id: a, type: tests.spec.Log, message: m}]
        """)
    )

    assert spec.labels == {"team": "data", "on": "true"}


def test_plugin_defaults_fill_missing_properties_and_forced_ones_override():
    spec = parse_flow(
        doc("""
        pluginDefaults:
          - type: tests.spec.Log
            values: {message: default message, level: INFO}
          - type: tests.legacy
            forced: true
            values: {level: ERROR}
          - type: tests.spec.Kitchen
            values: {mode: SLOW, count: 1}
        tasks:
          - id: own
            type: tests.spec.Log
            message: own message
          - id: bare
            type: tests.spec.Log
          - id: kitchen
            type: tests.spec.Kitchen
            count: 5
        """)
    )

    assert spec.task("own").properties == {"message": "own message", "level": "ERROR"}
    assert spec.task("bare").properties == {"message": "default message", "level": "ERROR"}
    assert spec.task("kitchen").properties == {"count": 5, "mode": "SLOW"}
    assert spec.plugin_defaults[1] == {
        "type": "tests.legacy",
        "forced": True,
        "values": {"level": "ERROR"},
    }


def test_deprecated_task_defaults_apply_and_warn():
    spec = parse_flow(
        doc("""
        taskDefaults:
          - type: tests.legacy.Log
            values: {message: from defaults}
        tasks: [{id: a, type: tests.spec.Log}]
        """)
    )

    assert spec.task("a").properties == {"message": "from defaults"}
    assert [(w.path, w.line) for w in spec.warnings] == [("taskDefaults", 4)]


def test_deprecated_names_are_warnings_not_errors():
    spec = parse_flow(
        doc("""
        inputs:
          - name: old
            type: STRING
        tasks:
          - id: k
            type: tests.spec.Kitchen
            legacy: x
            uri: http://example.com
        """)
    )

    assert [(w.path, w.line, w.col) for w in spec.warnings] == [
        ("inputs[0].name", 4, 5),
        ("tasks[0].legacy", 9, 5),
    ]
    assert spec.inputs[0].id == "old"
    assert spec.task("k").properties == {"legacy": "x", "url": "http://example.com"}


def test_expressions_accept_any_kind_and_pebble_spellings():
    spec = parse_flow(
        doc("""
        tasks:
          - id: k
            type: tests.spec.Kitchen
            count: "{{ inputs.n }}"
            flag: "{{ inputs.flag ?? false }}"
            mode: "{{ inputs.fast ? 'FAST' : 'SLOW' }}"
            payload: "{{ outputs['1-2_return'].value }}"
        """)
    )

    assert spec.task("k").properties["count"] == "{{ inputs.n }}"


def test_a_flow_with_a_webhook_and_disabled_trigger():
    spec = parse_flow(
        doc("""
        disabled: true
        tasks: [{id: a, type: tests.spec.Log, message: m}]
        triggers:
          - id: hook
            type: tests.spec.Webhook
            key: s3cr3t
            disabled: true
            conditions:
              - type: io.kestra.plugin.core.condition.Weekend
        """)
    )

    assert spec.disabled is True
    hook = spec.triggers[0]
    assert (hook.id, hook.disabled, hook.line) == ("hook", True, 6)
    assert hook.properties == {
        "key": "s3cr3t",
        "conditions": [{"type": "io.kestra.plugin.core.condition.Weekend"}],
    }


def test_listeners_keep_conditions_and_parse_tasks():
    spec = parse_flow(
        doc("""
        tasks: [{id: a, type: tests.spec.Log, message: m}]
        listeners:
          - conditions: [{type: io.kestra.plugin.core.condition.ExecutionStatus, in: [FAILED]}]
            tasks: [{id: on-failure, type: tests.spec.Log, message: failed}]
        """)
    )

    listener = spec.listeners[0]
    assert listener["conditions"] == [
        {"type": "io.kestra.plugin.core.condition.ExecutionStatus", "in": ["FAILED"]}
    ]
    assert [t.id for t in listener["tasks"]] == ["on-failure"]
    assert [t.id for t in spec.all_tasks()] == ["a", "on-failure"]


def test_six_field_cron_with_seconds_and_nicknames_are_accepted():
    spec = parse_flow(
        doc("""
        tasks: [{id: a, type: tests.spec.Log, message: m}]
        triggers:
          - {id: s1, type: tests.spec.Schedule, cron: "*/5 0 * * * *", withSeconds: true}
          - {id: s2, type: tests.spec.Schedule, cron: "@hourly"}
        """)
    )

    assert [t.id for t in spec.triggers] == ["s1", "s2"]


def test_bytes_with_a_byte_order_mark_are_read():
    source = "\ufeff" + doc("tasks: [{id: a, type: tests.spec.Log, message: café}]\n")

    spec = parse_flow(source.encode("utf-8"))

    assert spec.task("a").properties == {"message": "café"}


# ----------------------------------------------------------------------------- templates and files


def test_parse_template_keeps_tasks_and_errors():
    spec = parse_template(
        "id: tpl\nnamespace: company\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"
        "errors: [{id: e, type: tests.spec.Log, message: failed}]\n",
        filename="tpl.yaml",
    )

    assert spec == TemplateSpec(
        id="tpl",
        namespace="company",
        tasks=spec.tasks,
        errors=spec.errors,
    )
    assert [t.id for t in spec.tasks] == ["a"]
    assert [t.id for t in spec.errors] == ["e"]


def test_parse_template_refuses_flow_only_keys():
    with pytest.raises(SpecError) as caught:
        parse_template(
            "id: tpl\nnamespace: company\ntriggers: []\ntasks: [{id: a, type: tests.spec.Log, message: m}]\n"
        )

    assert [(p.path, p.line) for p in caught.value.problems] == [("triggers", 3)]


def test_split_documents_keeps_each_documents_first_line():
    source = "# flows\n---\nid: a\nnamespace: n\n---\n# only a comment\n---\nid: b\nnamespace: n\n"

    documents = split_documents(source)

    assert [(d.start_line, d.text) for d in documents] == [
        (3, "id: a\nnamespace: n\n"),
        (8, "id: b\nnamespace: n\n"),
    ]


# ----------------------------------------------------------------------------- collaborators


@pytest.mark.parametrize("checker", ["configured", "jinja fallback"])
@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("{{ (inputs.failed ?? 'NONE') == 'FIRST' ? ko : '0'}}", True),
        ("{{ outputs['1-2-1_return'].s1[taskrun.value].value }}", True),
        ("{%- for log in errorLogs() -%}{{ log.message }}{%- endfor -%}", True),
        ("{{ flow.namespace ~ '.' ~ flow.id }}", True),
        ("{{ name }", False),
        ("{% if x %}no end", False),
    ],
)
def test_expression_syntax_with_either_checker(monkeypatch, checker, text, valid):
    # Given the expressions module, or only Jinja2 when it is not importable
    from kernel.spec import expr as spec_expr

    if checker == "jinja fallback":
        monkeypatch.setattr(spec_expr, "_checker", lambda: spec_expr._jinja_check)
    source = doc("tasks:\n  - id: a\n" + LOG) + "    message: |-\n      " + text + "\n"

    if valid:
        assert parse_flow(source).task("a").properties == {"message": text}
    else:
        assert [(p.path, p.line) for p in problems(source)] == [("tasks[0].message", 6)]


def test_input_value_problems_come_from_the_inputs_module(monkeypatch):
    # Given an inputs module that finds the second input's default wrong
    seen = []

    def validate_input_specs(specs):
        seen.extend(s.id for s in specs)
        return [("1.defaults", "expected an integer, got 'x'")]

    fake = types.ModuleType("kernel.inputs")
    fake.validate_input_specs = validate_input_specs
    monkeypatch.setitem(sys.modules, "kernel.inputs", fake)
    source = doc("""
        inputs:
          - id: bad
            type: NOPE
          - id: name
            type: STRING
          - id: n
            type: INT
            defaults: x
        tasks: [{id: a, type: tests.spec.Log, message: m}]
        """)

    found = problems(source)

    # then only well-formed inputs are handed over, and the problem is placed on the default
    assert seen == ["name", "n"]
    assert [(p.path, p.line, p.col, p.message) for p in found] == [
        ("inputs[0].type", 5, 11, "unknown input type 'NOPE'"),
        ("inputs[2].defaults", 10, 15, "expected an integer, got 'x'"),
    ]


def test_a_deprecated_task_type_is_a_warning(monkeypatch):
    monkeypatch.setattr(Log, "deprecated", "use tests.spec.Log2", raising=False)

    spec = parse_flow(doc("tasks: [{id: a, type: tests.spec.Log, message: m}]\n"))

    assert [(w.path, w.line, w.message) for w in spec.warnings] == [
        ("tasks[0].type", 3, "'tests.spec.Log' is deprecated: use tests.spec.Log2")
    ]


def test_a_numeric_flow_id_is_read_as_text():
    spec = parse_flow(
        "id: 2024\nnamespace: n\ntasks: [{id: 1, type: tests.spec.Log, message: m}]\n"
    )

    assert (spec.id, spec.tasks[0].id) == ("2024", "1")


def test_a_retry_type_that_is_not_a_string_is_an_error_not_a_crash() -> None:
    """Found by the fuzzer: `retry: {type: []}` crashed the parser."""
    from kernel.spec.model import SpecError
    from kernel.spec.parse import parse_flow

    source = (
        "id: f\nnamespace: a\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
        "    message: m\n    retry:\n      type: []\n      maxAttempt: 2\n"
    )
    with pytest.raises(SpecError) as err:
        parse_flow(source)
    assert [p.path for p in err.value.problems] == ["tasks[0].retry.type"]


def test_a_duration_input_out_of_range_is_refused_not_a_crash() -> None:
    """Found by the fuzzer: a huge number of seconds overflowed timedelta."""
    from kernel.inputs import InputsError, coerce_inputs
    from kernel.spec.model import InputSpec

    with pytest.raises(InputsError) as err:
        coerce_inputs([InputSpec("d", "DURATION", {})], {"d": -86_399_999_913_601})
    assert "out of range" in err.value.errors["d"]
