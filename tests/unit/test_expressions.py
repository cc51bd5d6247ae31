"""Rendering Kestra expressions: strings, native values, truthiness, syntax checks, and a
representative set of the corpus's own expressions."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from kernel.expressions.render import (
    ExpressionError,
    check_syntax,
    evaluate,
    is_truthy,
    render,
    render_value,
)

START = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class FakeIO:
    """The `_trellis` capabilities a worker would provide."""

    def __init__(self) -> None:
        self.store = {("io.kestra.tests", "my-key"): {"field": "value"}}
        self.seen_secrets: list[str] = []

    def kv(self, key, namespace):
        return self.store.get((namespace, key))

    def read(self, path):
        return f"content of {path}"

    def error_logs(self):
        return [{"taskId": "failed", "message": "Task failure"}]

    def secret(self, key, namespace):
        return {"MY_SECRET": '{"secretKey":"secretValue"}'}.get(key.upper())

    def on_secret(self, value):
        self.seen_secrets.append(value)


@pytest.fixture
def context():
    return {
        "flow": {"id": "variables", "namespace": "io.kestra.tests"},
        "execution": {"id": "exec1", "startDate": START},
        "task": {"id": "t1", "type": "io.kestra.plugin.core.debug.Return"},
        "taskrun": {"id": "tr1", "value": "s1", "attemptsCount": 1, "startDate": START},
        "parent": {"taskrun": {"value": "value 1"}},
        "parents": [{"taskrun": {"value": "value 1"}}],
        "inputs": {
            "string": "myString",
            "int": 42,
            "float": 42.42,
            "bool": False,
            "optional": None,
            "json": {"a": "b"},
            "array": [1, 2, 3],
            "with-string": "forwarded",
            "emptyKey": {"foo": ""},
            "failed": None,
            "param": "fail",
        },
        "vars": {"first": "1", "second": "{{vars.first}} > 2", "third": "{{vars.second}} > 3"},
        "outputs": {
            "1-2-1_return": {"s1": {"a a": {"value": "1-2-1_return > s1 > a a"}}},
            "1-1_return": {"s1": {"value": "1-1_return > s1"}},
            "output_values": {"values": {"count": "10"}},
            "output": {"values": {"taskrun_data": 1}},
            "waitfor": {"iterationCount": 0},
            "pause": {"onResume": {"asked": None}},
            "return": {"value": "flow-with-outputs"},
        },
        "labels": {"some": "label", "system": {"correlationId": "exec1"}},
        "envs": {"test1": "true", "test2": "Pass by env"},
        "globals": {"string": "string", "int": 1, "bool": True, "nested": {"int": 2}},
        "trigger": {"executionId": "parent-exec"},
        "_trellis": FakeIO(),
    }


CORPUS = [
    ("{{task.id}} > {{taskrun.value}}", "t1 > s1"),
    ("{{taskrun.startDate}}", "2024-01-02T03:04:05Z"),
    ("{{taskrun.attemptsCount == 1 ? 'ok' : ko}}", "ok"),
    ("{{ outputs.waitfor.iterationCount + 1 }}", "1"),
    ("{{ outputs.output_values.values.count != '4'}}", "true"),
    ("{{ outputs.output_values.values.count == '10'}}", "true"),
    ("{{ outputs.output['values']['taskrun_data'] == 1 }}", "true"),
    ("{{outputs['1-2-1_return'].s1['a a'].value}}", "1-2-1_return > s1 > a a"),
    ("{{ outputs['1-1_return'][taskrun.value].value }}", "1-1_return > s1"),
    ("{{ outputs.1-1_return.s1.value }}", "1-1_return > s1"),
    ("{{outputs.pause.onResume.asked ?? 'MISSING'}}", "MISSING"),
    ("{{ outputs.not_existing ?? '' }}", ""),
    ("{{ (inputs.failed ?? 'NONE') == 'FIRST' ? ko : '0'}}", "0"),
    ("{{ outputs.return }}", '{"value":"flow-with-outputs"}'),
    ("{{ parent.taskrun.value == 'value 1' ? 'ok' : ko }}", "ok"),
    ("{{ inputs['with-string'] }}", "forwarded"),
    ("{{ inputs['emptyKey']['foo'] }}", ""),
    ("{{inputs.optional}}", ""),
    ("{{inputs.json}}", '{"a":"b"}'),
    ("{{inputs.array}}", "[1,2,3]"),
    ("{{inputs.bool}} {{inputs.int}} {{inputs.float}}", "false 42 42.42"),
    ('{{inputs.param == "fail"}}', "true"),
    ("{{ inputs.crash is defined }}", "false"),
    ("{{labels.some == 'label'}} {{labels.system.correlationId}}", "true exec1"),
    ("{{render(vars.third)}}", "1 > 2 > 3"),
    ("{{envs.test1}} {{envs.test2}}", "true Pass by env"),
    (
        "{{globals.string}} {{globals.int}} {{globals.bool}} {{globals.nested.int}}",
        "string 1 true 2",
    ),
    ("{{ flow.namespace ~ '.' ~ flow.id }}", "io.kestra.tests.variables"),
    ("{{ json(secret('my_secret')).secretKey }}", "secretValue"),
    ("{{ kv('my-key').field ?? null }}", "value"),
    ("{{ kv('other-key').field ?? null }}", ""),
    ('{{ "value 1" is json }} {{ \'{"key": "k"}\' is json }}', "false true"),
    ("{{ '{\"key\": \"my-complex\"}' | jq('.key') }}", '["my-complex"]'),
    (
        "{%- for log in errorLogs() -%}\n- task: {{ log.taskId }}, message: {{ log.message }}\n{%- endfor -%}",
        "- task: failed, message: Task failure",
    ),
    ("{{trigger.executionId}}", "parent-exec"),
]


@pytest.mark.parametrize(("template", "expected"), CORPUS)
def test_corpus_expressions_render_like_kestra(template, expected, context):
    assert render(template, context) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{ taskrun.attemptsCount == 3 ? 'ok' : ko}}",
        "{{ outputs.notexists == 2 }}",
        "{{ outputs.default.value ?? outputs['error-t1'].value }}",
        "{{ invalid }}",
    ],
)
def test_corpus_expressions_that_must_fail(template, context):
    with pytest.raises(ExpressionError):
        render(template, context)


def test_kv_with_error_on_missing_names_key_and_namespace(context):
    with pytest.raises(ExpressionError) as err:
        render("{{ kv('nope', flow.namespace, true).field }}", context)

    assert "The key 'nope' does not exist in the namespace 'io.kestra.tests'." in str(err.value)


def test_undefined_message_names_the_variable_and_expression(context):
    with pytest.raises(ExpressionError) as err:
        render("{{ missing }}", context)

    assert (
        str(err.value)
        == "Unable to find `missing` used in the expression `{{ missing }}` at line 1"
    )
    assert err.value.template == "{{ missing }}"


def test_string_without_delimiters_comes_back_untouched(context):
    text = "no expression: a ? b : c"

    assert render(text, context) is text


def test_rendered_values_are_never_rendered_again(context):
    context["inputs"]["string"] = "{{ secret('my_secret') }}"

    assert render("{{ inputs.string }}", context) == "{{ secret('my_secret') }}"
    assert context["_trellis"].seen_secrets == []


def test_render_once_renders_a_single_level(context):
    assert render("{{ renderOnce(vars.third) }}", context) == "{{vars.first}} > 2 > 3"


def test_secret_reads_are_reported_for_masking(context):
    render("{{ secret('my_secret') }}", context)

    assert context["_trellis"].seen_secrets == ['{"secretKey":"secretValue"}']


def test_secret_from_environment_when_no_io_callable(monkeypatch):
    monkeypatch.setenv("SECRET_PASSWORD", base64.b64encode(b"password").decode())

    assert render("{{ secret('password') }}", {"flow": {"namespace": "n"}}) == "password"


def test_missing_secret_error_is_kestras(context):
    with pytest.raises(ExpressionError) as err:
        render("{{ secret('unknown_secret_key') }}", context)

    assert "Cannot find secret for key 'unknown_secret_key'." in str(err.value)


def test_io_functions_use_the_trellis_object(context):
    assert render("{{ read('a.txt') }}|{{ fileURI('x.csv') }}", context) == (
        "content of a.txt|kestra:///io/kestra/tests/_files/x.csv"
    )


def test_io_function_without_capability_is_a_clear_error():
    with pytest.raises(ExpressionError) as err:
        render("{{ read('a.txt') }}", {})

    assert "'read' capability is not available" in str(err.value)


def test_current_each_output_walks_parent_values(context):
    context["outputs"] = {"inner": {"value 1": {"s1": {"value": "deep"}}}}

    assert render("{{ currentEachOutput(outputs.inner).value }}", context) == "deep"


def test_render_value_renders_nested_strings_and_keys(context):
    value = {"{{ task.id }}": ["{{ inputs.int }}", 3, {"k": "{{ inputs.bool }}"}], "n": None}

    assert render_value(value, context) == {"t1": ["42", 3, {"k": "false"}], "n": None}


def test_printing_a_method_is_an_error_not_python_repr(context):
    with pytest.raises(ExpressionError) as err:
        render("{{ inputs.json.keys }}", context)

    assert "cannot print a function (keys)" in str(err.value)


def test_evaluate_returns_native_values(context):
    assert evaluate("{{ inputs.array }}", context) == [1, 2, 3]
    assert evaluate(" {{ inputs.json }} ", context) == {"a": "b"}
    assert evaluate("{{ inputs.int > 40 }}", context) is True
    assert evaluate("{{ outputs.nope ?? [] }}", context) == []


def test_evaluate_falls_back_to_a_string_for_mixed_templates(context):
    assert evaluate("n={{ inputs.int }}", context) == "n=42"
    assert evaluate("{{ inputs.int }}{{ inputs.int }}", context) == "4242"
    assert evaluate([1], context) == [1]


def test_evaluate_of_undefined_raises(context):
    with pytest.raises(ExpressionError):
        evaluate("{{ nothing }}", context)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("  TRUE ", True),
        ("1", True),
        ("This should be true", True),
        ("false", False),
        ("  False ", False),
        ("0", False),
        ("-0", False),
        ("", False),
        (None, False),
        (True, True),
        (False, False),
        (0, False),
        (2, True),
        ([], False),
        ({}, False),
        ([0], True),
    ],
)
def test_is_truthy_follows_kestra(value, expected):
    assert is_truthy(value) is expected


def test_check_syntax_reports_errors_without_rendering():
    assert check_syntax("{{ undefined_is_fine_here }}") is None
    assert check_syntax("plain") is None
    message = check_syntax("{% if x %}never closed")
    assert message is not None
    assert "{% if x %}never closed" in message


def test_native_jinja_syntax_keeps_working(context):
    template = (
        "{% for k, v in inputs.json.items() %}{{ k }}={{ v }}{% endfor %};"
        "{{ inputs.array | map('string') | join('-') }};{{ inputs.string if inputs.int else 'no' }};"
        "{% set ns = namespace(total=0) %}{% for i in inputs.array %}{% set ns.total = ns.total + i %}"
        "{% endfor %}{{ ns.total }};{{ inputs.array | reverse }};{{ loop_var }}"
    )
    context["loop_var"] = "{{ ok }}"

    assert render(template, context) == "a=b;1-2-3;myString;6;[3,2,1];{{ ok }}"


def test_an_expression_that_does_not_parse_reads_as_kestras_parser_exception() -> None:
    # Kestra logs "io.pebbletemplates.pebble.error.ParserException: <why> (<template>:<line>)"
    with pytest.raises(ExpressionError) as caught:
        evaluate("first line\n{{ foo( }}", {})

    message = str(caught.value)
    assert message.startswith("io.pebbletemplates.pebble.error.ParserException: ")
    assert message.endswith("(first line\n{{ foo( }}:2)")
