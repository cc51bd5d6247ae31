"""Typed execution inputs: deploy-time checks, coercion of submitted values, JSON schema."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import yaml

from kernel.inputs import (
    InputsError,
    coerce_inputs,
    input_json_schema,
    validate_input_specs,
)
from kernel.secrets import open_secret
from kernel.spec.model import InputSpec

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "kestra-corpus"


def spec(input_id: str, input_type: str, **options) -> InputSpec:
    return InputSpec(input_id, input_type, options)


def one(input_type: str, value, **options):
    """The typed value of a single required input (SECRET kept in clear: sealing has its own
    tests in test_secret_inputs.py)."""
    return coerce_inputs([spec("x", input_type, **options)], {"x": value}, seal=None)["x"]


def error_of(input_type: str, value, **options) -> str:
    with pytest.raises(InputsError) as caught:
        coerce_inputs([spec("x", input_type, **options)], {"x": value})
    return caught.value.errors["x"]


# ----------------------------------------------------------------------------- each type


@pytest.mark.parametrize(
    ("input_type", "value", "typed"),
    [
        ("STRING", "myString", "myString"),
        ("STRING", "", ""),
        ("STRING", 42, "42"),
        ("STRING", True, "true"),
        ("SECRET", "s3cr3t", "s3cr3t"),
        ("INT", "42", 42),
        ("INT", " -7 ", -7),
        ("INT", 42, 42),
        ("INT", 42.0, 42),
        ("FLOAT", "42.42", 42.42),
        ("FLOAT", 3, 3.0),
        ("FLOAT", 0.5, 0.5),
        ("BOOLEAN", "false", False),
        ("BOOLEAN", "TRUE", True),
        ("BOOLEAN", "True", True),
        ("BOOLEAN", True, True),
        ("BOOL", "true", True),
        ("DATETIME", "2019-10-06T18:27:49Z", "2019-10-06T18:27:49Z"),
        ("DATETIME", "2024-01-01T10:00:00", "2024-01-01T10:00:00Z"),
        ("DATETIME", "2024-01-01T12:00:00+02:00", "2024-01-01T10:00:00Z"),
        ("DATETIME", "2024-01-01T10:00:00.250Z", "2024-01-01T10:00:00.250Z"),
        ("DATETIME", "2024-01-01T10:00:00.123456Z", "2024-01-01T10:00:00.123456Z"),
        ("DATE", "2019-10-06", "2019-10-06"),
        ("TIME", "18:27:49", "18:27:49"),
        ("TIME", "18:27", "18:27:00"),
        ("DURATION", "PT5M6S", "PT5M6S"),
        ("DURATION", " P1D ", "P1D"),
        ("DURATION", 90, "PT1M30S"),
        ("JSON", '{"a": "b"}', {"a": "b"}),
        ("JSON", "{}", {}),
        ("JSON", "[1, 2]", [1, 2]),
        ("JSON", {"a": [1, None]}, {"a": [1, None]}),
        ("JSON", "3", 3),
        (
            "YAML",
            "some: property\nalist:\n- of\n- values",
            {"some": "property", "alist": ["of", "values"]},
        ),
        ("YAML", "when: 2024-01-01", {"when": "2024-01-01"}),
        ("YAML", {"native": True}, {"native": True}),
        ("URI", "https://www.google.com", "https://www.google.com"),
        ("URI", "mailto:someone@example.com", "mailto:someone@example.com"),
        ("URI", "s3://bucket/key.csv", "s3://bucket/key.csv"),
        ("EMAIL", "someone@example.com", "someone@example.com"),
        ("ARRAY", "[1, 2, 3]", [1, 2, 3]),
        ("ARRAY", ["1", "2"], [1, 2]),
    ],
)
def test_each_type_is_coerced_to_its_json_value(input_type, value, typed):
    options = {"itemType": "INT"} if input_type == "ARRAY" else {}

    assert one(input_type, value, **options) == typed


def test_array_items_take_their_item_type():
    assert one("ARRAY", '["2024-01-01", "2024-02-01"]', itemType="DATE") == [
        "2024-01-01",
        "2024-02-01",
    ]
    assert one("ARRAY", '["a", "b"]', itemType="STRING") == ["a", "b"]
    assert one("ARRAY", "single", itemType="STRING") == ["single"]
    assert one("ARRAY", "[0.5, 1]", itemType="FLOAT") == [0.5, 1.0]
    assert one("ARRAY", '["2024-01-01T00:00:00+01:00"]', itemType="DATETIME") == [
        "2023-12-31T23:00:00Z"
    ]


@pytest.mark.parametrize(
    ("input_type", "value", "message"),
    [
        ("INT", "abc", "expected a whole number like `42`, but received `abc`"),
        ("INT", "4.2", "expected a whole number"),
        ("INT", True, "expected a whole number"),
        ("FLOAT", "x", "expected a number like `4.2`, but received `x`"),
        ("FLOAT", "nan", "expected a finite number"),
        ("BOOLEAN", "yes", "expected `true` or `false`, but received `yes`"),
        ("BOOLEAN", 1, "expected `true` or `false`, but received `1`"),
        ("DATETIME", "yesterday", "expected a date and time like `2024-01-01T10:00:00Z`"),
        ("DATE", "2019-13-06", "expected a date like `2024-01-31`"),
        ("DATE", "2019-10-06T10:00:00Z", "expected a date like"),
        ("TIME", "25:00:00", "expected a time like `13:45:00`"),
        ("DURATION", "5 minutes", "expected an ISO-8601 duration like `PT5M` or `P1D`"),
        ("JSON", "{nope", "expected JSON"),
        ("YAML", "a: [", "expected YAML"),
        ("YAML", "a: &x 1\nb: *x", "expected YAML"),
        ("URI", "http:/bla", "Expected `URI` but received `http:/bla`, but received `http:/bla`"),
        ("URI", "no scheme", "Expected `URI`"),
        ("URI", "www.example.com", "Expected `URI`"),
        ("EMAIL", "someone@", "expected an email address like `name@example.com`"),
        ("EMAIL", "a b@example.com", "expected an email address"),
        ("STRING", ["a"], "expected a text value"),
    ],
)
def test_a_value_of_the_wrong_shape_is_refused_with_its_type(input_type, value, message):
    assert message in error_of(input_type, value)


def test_an_array_item_that_does_not_parse_is_named():
    message = error_of("ARRAY", '["s1", "s2"]', itemType="INT")

    assert message == (
        'Unable to parse array element as `INT` on `s1`, but received `["s1", "s2"]`'
    )
    assert "expected a JSON list" in error_of("ARRAY", "[1, ", itemType="INT")
    assert "expected a list" in error_of("ARRAY", {"a": 1}, itemType="INT")


# ----------------------------------------------------------------------------- choices


def test_select_accepts_only_its_values_unless_custom_values_are_allowed():
    values = ["ENUM_VALUE", "OTHER_ONE"]

    assert one("ENUM", "ENUM_VALUE", values=values) == "ENUM_VALUE"
    assert one("SELECT", "OTHER_ONE", values=values) == "OTHER_ONE"
    assert one("SELECT", "mine", values=values, allowCustomValue=True) == "mine"
    assert error_of("ENUM", "INVALID", values=values) == (
        "it must match the values `[ENUM_VALUE, OTHER_ONE]`, but received `INVALID`"
    )


def test_select_values_may_be_an_expression_rendered_at_run_time():
    specs = [spec("env", "SELECT", values="{{ kv('envs') }}")]

    def render(text):
        return '["dev", "prod"]'

    assert coerce_inputs(specs, {"env": "dev"}, render=render) == {"env": "dev"}
    with pytest.raises(InputsError, match="values `\\[dev, prod\\]`"):
        coerce_inputs(specs, {"env": "test"}, render=render)
    assert coerce_inputs(specs, {"env": "anything"}) == {"env": "anything"}  # cannot tell


def test_multiselect_is_a_subset_of_its_values():
    values = ["a", "b", "c"]

    assert one("MULTISELECT", ["a", "c"], values=values) == ["a", "c"]
    assert one("MULTISELECT", '["b"]', values=values) == ["b"]
    assert one("MULTISELECT", "b", options=values) == ["b"]  # `options`: the old name
    assert one("MULTISELECT", ["z"], values=values, allowCustomValue=True) == ["z"]
    assert error_of("MULTISELECT", ["a", "z"], values=values) == (
        'it must match the values `[a, b, c]`, but received `["a", "z"]`'
    )


# ----------------------------------------------------------------------------- constraints


@pytest.mark.parametrize(
    ("input_type", "options", "value", "message"),
    [
        ("STRING", {"validator": r"A\d+"}, "foo", "it must match the pattern `A\\d+`, but received `foo`"),
        ("STRING", {"validator": r"A\d+"}, "A12x", "it must match the pattern `A\\d+`, but received `A12x`"),
        ("STRING", {"minLength": 3}, "ab", "it must be at least `3` characters long, but received `ab`"),
        ("STRING", {"maxLength": 3}, "abcd", "it must be at most `3` characters long, but received `abcd`"),
        ("SECRET", {"validator": "[a-z]+"}, "ABC", "it must match the pattern `[a-z]+`, but received `********`"),
        ("INT", {"min": 10, "max": 20}, "9", "it must be more than `10`, but received `9`"),
        ("INT", {"min": 10, "max": 20}, "21", "it must be less than `20`, but received `21`"),
        ("FLOAT", {"min": 0.1, "max": 0.5}, "0.01", "it must be more than `0.1`, but received `0.01`"),
        ("FLOAT", {"min": 0.1, "max": 0.5}, "1.01", "it must be less than `0.5`, but received `1.01`"),
        ("DATE", {"after": "2023-01-01", "before": "2023-12-31"}, "2022-01-01",
         "it must be after `2023-01-01`, but received `2022-01-01`"),
        ("DATE", {"min": "2023-01-01", "max": "2023-12-31"}, "2024-01-01",
         "it must be before `2023-12-31`, but received `2024-01-01`"),
        ("DATETIME", {"after": "2023-01-01T00:00:00Z"}, "2022-01-01T00:00:00Z",
         "it must be after `2023-01-01T00:00:00Z`, but received `2022-01-01T00:00:00Z`"),
        ("DATETIME", {"before": "2023-12-31T23:59:59Z"}, "2024-01-01T00:00:00Z",
         "it must be before `2023-12-31T23:59:59Z`, but received `2024-01-01T00:00:00Z`"),
        ("TIME", {"after": "01:00:00"}, "00:00:01", "it must be after `01:00`, but received `00:00:01`"),
        ("TIME", {"before": "11:59:59"}, "14:00:00", "it must be before `11:59:59`, but received `14:00:00`"),
        ("DURATION", {"min": "PT10S"}, "PT1S", "It must be more than `PT10S`, but received `PT1S`"),
        ("DURATION", {"max": "PT20S"}, "PT30S", "It must be less than `PT20S`, but received `PT30S`"),
        ("ARRAY", {"itemType": "INT", "max": 5}, "[1, 9]", "it must be less than `5`, but received `[1, 9]`"),
    ],
)  # fmt: skip
def test_constraints_name_their_bounds(input_type, options, value, message):
    assert error_of(input_type, value, **options) == message


@pytest.mark.parametrize(
    ("input_type", "options", "value"),
    [
        ("STRING", {"validator": r"A\d+"}, "A123"),
        ("STRING", {"minLength": 2, "maxLength": 2}, "ab"),
        ("INT", {"min": 10, "max": 20}, "10"),
        ("INT", {"min": 10, "max": 20}, "20"),
        ("FLOAT", {"min": 0.1, "max": 0.5}, "0.42"),
        ("DATE", {"after": "2023-01-01", "before": "2023-12-31"}, "2023-01-02"),
        ("DATETIME", {"after": "2023-01-01T00:00:00Z"}, "2023-01-01T01:00:00+01:00"),
        ("TIME", {"after": "01:00:00", "before": "11:59:59"}, "11:27:49"),
        ("DURATION", {"min": "PT10S", "max": "PT20S"}, "PT15S"),
    ],
)
def test_values_within_their_bounds_are_accepted_bounds_included(input_type, options, value):
    one(input_type, value, **options)


# ----------------------------------------------------------------------------- missing values


def test_a_missing_required_input_is_reported_like_kestra():
    with pytest.raises(InputsError) as caught:
        coerce_inputs([spec("string", "STRING")], {})

    assert caught.value.errors == {"string": "missing required input, but received `null`"}
    assert str(caught.value) == (
        "string: Invalid input for `string`, missing required input, but received `null`"
    )


def test_inputs_are_required_unless_they_say_otherwise():
    specs = [
        spec("a", "STRING", required=False),
        spec("b", "INT", required=False),
        spec("c", "BOOLEAN"),
    ]

    with pytest.raises(InputsError) as caught:
        coerce_inputs(specs, {"a": None})

    assert list(caught.value.errors) == ["c"]


def test_an_optional_input_without_value_is_present_as_none():
    specs = [spec("bool", "BOOLEAN", required=False), spec("s", "STRING", required=False)]

    assert coerce_inputs(specs, {}) == {"bool": None, "s": None}


def test_an_empty_form_field_is_a_missing_value_except_for_text():
    specs = [
        spec("n", "INT", required=False),
        spec("d", "DATE", required=False),
        spec("s", "STRING", required=False),
    ]

    assert coerce_inputs(specs, {"n": "", "d": "", "s": ""}) == {"n": None, "d": None, "s": ""}
    with pytest.raises(InputsError, match="missing required input"):
        coerce_inputs([spec("n", "INT")], {"n": ""})


def test_defaults_fill_missing_values_and_are_typed():
    specs = [
        spec("instantDefaults", "DATETIME", defaults="2013-08-09T14:19:00Z"),
        spec("n", "INT", defaults="5"),
        spec("flag", "BOOLEAN", required=False, defaults=False),
        spec("empty", "STRING", defaults="", required=True),
        spec("y", "YAML", defaults={"property": "something"}),
    ]

    assert coerce_inputs(specs, {"n": "7"}) == {
        "instantDefaults": "2013-08-09T14:19:00Z",
        "n": 7,
        "flag": False,
        "empty": "",
        "y": {"property": "something"},
    }


def test_a_default_is_copied_so_a_run_cannot_change_the_flow():
    declared = {"a": [1]}
    specs = [spec("j", "JSON", defaults=declared)]

    coerce_inputs(specs, {})["j"]["a"].append(2)

    assert declared == {"a": [1]}


def test_an_expression_default_is_rendered_then_typed():
    specs = [spec("day", "DATE", defaults="{{ now() | date('yyyy-MM-dd') }}")]
    seen = []

    def render(text):
        seen.append(text)
        return "2024-05-01"

    assert coerce_inputs(specs, {}, render=render) == {"day": "2024-05-01"}
    assert seen == ["{{ now() | date('yyyy-MM-dd') }}"]
    assert coerce_inputs(specs, {"day": "2024-06-01"}, render=render) == {"day": "2024-06-01"}
    assert seen == ["{{ now() | date('yyyy-MM-dd') }}"]  # not rendered when a value is given


def test_an_expression_default_that_fails_to_render_is_an_input_error():
    def render(text):
        raise ValueError("undefined variable `x`")

    with pytest.raises(InputsError) as caught:
        coerce_inputs([spec("s", "STRING", defaults="{{ x }}")], {}, render=render)

    assert caught.value.errors["s"] == "cannot render its default `{{ x }}`: undefined variable `x`"


def test_a_default_that_breaks_its_constraints_is_reported():
    with pytest.raises(InputsError, match="it must be more than `10`, but received `3`"):
        coerce_inputs([spec("n", "INT", defaults=3, min=10)], {})


# ----------------------------------------------------------------------------- the whole set


def test_unknown_inputs_are_refused_with_the_known_ones_listed():
    with pytest.raises(InputsError) as caught:
        coerce_inputs([spec("a", "STRING"), spec("b", "INT")], {"a": "x", "b": "1", "c": "?"})

    assert caught.value.errors == {
        "c": "this flow has no such input (its inputs: `a`, `b`), but received `?`"
    }


def test_every_error_is_collected_in_one_exception():
    specs = [spec("a", "INT"), spec("b", "BOOLEAN"), spec("c", "STRING"), spec("ok", "STRING")]

    with pytest.raises(InputsError) as caught:
        coerce_inputs(specs, {"a": "x", "b": "maybe", "ok": "fine", "zzz": 1})

    assert set(caught.value.errors) == {"a", "b", "c", "zzz"}
    text = str(caught.value)
    assert "a: Invalid input for `a`, expected a whole number" in text
    assert "b: Invalid input for `b`, expected `true` or `false`" in text
    assert "c: Invalid input for `c`, missing required input" in text


def test_the_error_survives_pickling_for_celery():
    error = InputsError({"a": "missing required input, but received `null`"})

    copy = pickle.loads(pickle.dumps(error))

    assert copy.errors == error.errors
    assert str(copy) == str(error)


def test_dotted_ids_become_nested_maps_as_in_kestra():
    specs = [
        spec("nested.string", "STRING", required=False),
        spec("nested.more.int", "INT", required=False),
        spec("nested.bool", "BOOLEAN", required=False),
    ]
    raw = {"nested.string": "a string", "nested.more.int": "123", "nested.bool": "true"}

    assert coerce_inputs(specs, raw) == {
        "nested": {"string": "a string", "bool": True, "more": {"int": 123}}
    }
    assert coerce_inputs(specs, raw, nest=False) == {
        "nested.string": "a string",
        "nested.more.int": 123,
        "nested.bool": True,
    }
    # an API client may send the nested shape itself
    assert coerce_inputs(specs, {"nested": {"more": {"int": 1}}}, nest=False) == {
        "nested.string": None,
        "nested.more.int": 1,
        "nested.bool": None,
    }


def test_results_are_json_serialisable():
    specs = [
        spec("t", "DATETIME"),
        spec("y", "YAML"),
        spec("a", "ARRAY", itemType="TIME"),
        spec("j", "JSON"),
    ]

    typed = coerce_inputs(
        specs,
        {
            "t": "2024-01-01T00:00:00Z",
            "y": "d: 2024-01-01\nt: 2024-01-01T00:00:00Z",
            "a": ["10:00"],
            "j": "null",
        },
        nest=False,
    )

    assert json.loads(json.dumps(typed)) == typed


# ----------------------------------------------------------------------------- files


def test_an_uploaded_file_is_stored_and_replaced_by_its_uri():
    stored = []

    def store_file(input_id, file_obj):
        stored.append((input_id, file_obj))
        return f"kestra:///io/kestra/tests/inputs/executions/E/inputs/{input_id}/a.yml"

    specs = [spec("file", "FILE"), spec("optionalFile", "FILE", required=False)]
    upload = object()

    typed = coerce_inputs(specs, {}, files={"file": upload}, store_file=store_file)

    assert typed == {
        "file": "kestra:///io/kestra/tests/inputs/executions/E/inputs/file/a.yml",
        "optionalFile": None,
    }
    assert stored == [("file", upload)]


def test_a_file_already_in_storage_is_accepted_as_its_uri():
    uri = "kestra:///io/kestra/tests/inputs/executions/E/inputs/file/a.yml"

    assert one("FILE", uri) == uri


def test_a_file_input_refuses_other_text_and_uploads_nobody_stores():
    assert error_of("FILE", "/etc/passwd") == (
        "expected an uploaded file or a `kestra:///` URI, but received `/etc/passwd`"
    )
    with pytest.raises(InputsError, match="file uploads are not accepted here"):
        coerce_inputs([spec("f", "FILE")], {}, files={"f": object()})


def test_a_storage_failure_is_an_input_error():
    def store_file(input_id, file_obj):
        raise ValueError("disk full")

    with pytest.raises(InputsError, match="the file could not be stored: disk full"):
        coerce_inputs([spec("f", "FILE")], {}, files={"f": object()}, store_file=store_file)


def test_an_upload_for_an_unknown_input_is_refused():
    with pytest.raises(InputsError) as caught:
        coerce_inputs([], {}, files={"f": object()}, store_file=lambda i, f: "kestra:///x")

    assert (
        caught.value.errors["f"]
        == "this flow has no such input (its inputs: none), but received `a file`"
    )


# ----------------------------------------------------------------------------- deploy time


def test_well_formed_declarations_have_no_problems():
    specs = [
        spec("s", "STRING", validator=r"A\d+", minLength=1, maxLength=9, defaults="A1"),
        spec("n", "INT", min=1, max=3, defaults=2),
        spec("e", "ENUM", values=["a", "b"], defaults="a"),
        spec("m", "MULTISELECT", options=["a", "b"], defaults=["a"]),
        spec("arr", "ARRAY", itemType="INT", defaults=[1, 2]),
        spec("d", "DURATION", min="PT1S", max="PT1H", defaults="PT5M"),
        spec("t", "DATETIME", defaults="{{ now() }}"),
        spec("f", "FILE", defaults="nsfile:///data.csv"),
        spec("y", "YAML", defaults={"a": 1}),
        spec("dyn", "SELECT", values="{{ kv('x') }}", defaults="whatever"),
    ]

    assert validate_input_specs(specs) == []


@pytest.mark.parametrize(
    ("declared", "suffix", "message"),
    [
        (spec("x", "STRING", validator="a("), "[1].validator", "invalid validator regex"),
        (spec("x", "INT", defaults="abc"), "[1].defaults", "invalid `defaults`: expected a whole number like `42`, but received `abc`"),
        (spec("x", "INT", defaults=50, max=20), "[1].defaults", "invalid `defaults`: it must be less than `20`, but received `50`"),
        (spec("x", "STRING", validator=r"\d+", defaults="abc"), "[1].defaults", "it must match the pattern"),
        (spec("x", "ENUM"), "[1].values", "a ENUM input needs `values`"),
        (spec("x", "SELECT", values=[]), "[1].values", "needs `values`"),
        (spec("x", "SELECT", values="a,b"), "[1].values", "`values` must be a list or an expression"),
        (spec("x", "ENUM", values=["a"], defaults="b"), "[1].defaults", "it must match the values `[a]`"),
        (spec("x", "MULTISELECT"), "[1].values", "a MULTISELECT input needs `values`"),
        (spec("x", "ARRAY"), "[1].itemType", "an ARRAY input needs `itemType`"),
        (spec("x", "ARRAY", itemType="FILE"), "[1].itemType", "an ARRAY cannot hold 'FILE' items"),
        (spec("x", "INT", min=5, max=1), "[1].max", "`min` (5) is greater than `max` (1)"),
        (spec("x", "DATE", after="2024-01-01", before="2023-01-01"), "[1].before", "`after` (2024-01-01) is greater than `before`"),
        (spec("x", "INT", min="ten"), "[1].min", "`min` must be a valid INT"),
        (spec("x", "DURATION", max="forever"), "[1].max", "`max` must be a valid DURATION"),
        (spec("x", "STRING", minLength=5, maxLength=2), "[1].maxLength", "`minLength` is greater than `maxLength`"),
        (spec("x", "STRING", minLength=-1), "[1].minLength", "must be a whole number of characters"),
        (spec("x", "STRING", required="no"), "[1].required", "`required` must be true or false"),
        (spec("x", "FILE", defaults="/etc/passwd"), "[1].defaults", "a FILE default must be"),
        (spec("x", "BOOLEAN", prefill="maybe"), "[1].prefill", "invalid `prefill`"),
    ],
)  # fmt: skip
def test_declaration_problems_point_at_their_option(declared, suffix, message):
    problems = validate_input_specs([spec("fine", "STRING"), declared])

    assert len(problems) == 1, problems
    assert problems[0][0] == suffix
    assert message in problems[0][1]


def _corpus_inputs() -> list[tuple[str, list[InputSpec]]]:
    found = []
    for path in sorted(CORPUS.glob("flows*/*.y*ml")):
        document = yaml.safe_load(path.read_text())
        if not isinstance(document, dict) or not document.get("inputs"):
            continue
        specs = [
            InputSpec(
                str(item.get("id", item.get("name"))),
                item["type"],
                {k: v for k, v in item.items() if k not in ("id", "name", "type")},
            )
            for item in document["inputs"]
        ]
        found.append((path.name, specs))
    return found


CORPUS_INPUTS = _corpus_inputs() if CORPUS.is_dir() else []


@pytest.mark.skipif(not CORPUS_INPUTS, reason="the Kestra corpus is not next to the project")
@pytest.mark.parametrize(("name", "specs"), CORPUS_INPUTS, ids=[n for n, _ in CORPUS_INPUTS])
def test_every_corpus_input_declaration_is_valid(name, specs):
    assert validate_input_specs(specs) == []


@pytest.mark.skipif(not CORPUS_INPUTS, reason="the Kestra corpus is not next to the project")
def test_the_corpus_inputs_flow_types_its_values_as_kestra_does():
    # Given InputsTest's form values for flows/inputs.yaml (expectations.yaml, typed-values)
    specs = dict(CORPUS_INPUTS)["inputs.yaml"]
    raw = {
        "string": "myString", "enum": "ENUM_VALUE", "int": "42", "float": "42.42",
        "bool": "false", "instant": "2019-10-06T18:27:49Z", "date": "2019-10-06",
        "time": "18:27:49", "duration": "PT5M6S", "json": '{"a": "b"}',
        "uri": "https://www.google.com", "nested.string": "a string",
        "nested.more.int": "123", "nested.bool": "true", "validatedString": "A123",
        "validatedInt": "12", "validatedDate": "2023-01-02",
        "validatedDateTime": "2023-01-01T00:00:10Z", "validatedDuration": "PT15S",
        "validatedFloat": "0.42", "validatedTime": "11:27:49", "secret": "secret",
        "array": "[1, 2, 3]", "yaml": "some: property\nalist:\n- of\n- values",
    }  # fmt: skip
    uri = "kestra:///io/kestra/tests/inputs/executions/E/inputs/file/application-test.yml"

    typed = coerce_inputs(specs, raw, files={"file": b"x"}, store_file=lambda i, f: uri)

    sealed = typed.pop("secret")  # stored encrypted, as Kestra stores it
    assert sealed != "secret"
    assert open_secret(sealed) == "secret"
    assert typed == {
        "string": "myString", "enum": "ENUM_VALUE", "optional": None, "int": 42,
        "bool": False, "float": 42.42, "instant": "2019-10-06T18:27:49Z",
        "date": "2019-10-06", "time": "18:27:49", "duration": "PT5M6S", "file": uri,
        "optionalFile": None, "instantDefaults": "2013-08-09T14:19:00Z",
        "json": {"a": "b"}, "uri": "https://www.google.com",
        "nested": {"string": "a string", "more": {"int": 123}, "bool": True},
        "validatedString": "A123", "validatedInt": 12, "validatedDate": "2023-01-02",
        "validatedDateTime": "2023-01-01T00:00:10Z", "validatedDuration": "PT15S",
        "validatedFloat": 0.42, "validatedTime": "11:27:49",
        "array": [1, 2, 3], "yaml": {"some": "property", "alist": ["of", "values"]},
        "empty": "",
    }  # fmt: skip
    # and an invalid enum reads exactly as Kestra's message
    with pytest.raises(InputsError) as caught:
        coerce_inputs(
            specs, {**raw, "enum": "INVALID"}, files={"file": b"x"}, store_file=lambda i, f: uri
        )
    assert str(caught.value) == (
        "enum: Invalid input for `enum`, it must match the values `[ENUM_VALUE, OTHER_ONE]`, "
        "but received `INVALID`"
    )


# ----------------------------------------------------------------------------- schema


def test_the_json_schema_describes_types_formats_bounds_and_requirements():
    specs = [
        spec(
            "name",
            "STRING",
            description="Who to greet",
            displayName="Name",
            validator="[a-z]+",
            maxLength=9,
        ),
        spec("count", "INT", min=1, max=10, defaults=3),
        spec("ratio", "FLOAT", required=False),
        spec("flag", "BOOL", required=False),
        spec("at", "DATETIME", after="2023-01-01T00:00:00Z"),
        spec("day", "DATE", defaults="{{ today }}"),
        spec("time", "TIME", required=False),
        spec("wait", "DURATION", defaults="PT1M"),
        spec("mail", "EMAIL", required=False),
        spec("link", "URI", required=False),
        spec("env", "ENUM", values=["dev", "prod"]),
        spec("tags", "MULTISELECT", values=["a", "b"], required=False),
        spec("free", "SELECT", values=["x"], allowCustomValue=True, required=False),
        spec("nums", "ARRAY", itemType="INT", min=0, required=False),
        spec("doc", "JSON", required=False),
        spec("upload", "FILE"),
        spec("token", "SECRET", required=False),
        spec("conf", "YAML", prefill={"a": 1}, required=False),
    ]

    schema = input_json_schema(specs)

    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object"
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["name", "at", "env", "upload"]
    props = schema["properties"]
    assert props["name"] == {
        "type": "string", "pattern": "^(?:[a-z]+)$", "maxLength": 9, "x-kestra-type": "STRING",
        "title": "Name", "description": "Who to greet",
    }  # fmt: skip
    assert props["count"] == {
        "type": "integer", "minimum": 1, "maximum": 10, "x-kestra-type": "INT", "default": 3,
    }  # fmt: skip
    assert props["ratio"]["type"] == "number"
    assert props["flag"] == {"type": "boolean", "x-kestra-type": "BOOL"}
    assert props["at"] == {
        "type": "string", "format": "date-time", "formatMinimum": "2023-01-01T00:00:00Z",
        "x-kestra-type": "DATETIME",
    }  # fmt: skip
    assert props["day"]["format"] == "date"
    assert props["day"]["x-default-expression"] == "{{ today }}"
    assert "default" not in props["day"]
    assert props["time"]["format"] == "time"
    assert props["wait"] == {
        "type": "string", "format": "duration", "x-kestra-type": "DURATION", "default": "PT1M",
    }  # fmt: skip
    assert props["mail"]["format"] == "email"
    assert props["link"]["format"] == "uri"
    assert props["env"] == {"type": "string", "enum": ["dev", "prod"], "x-kestra-type": "ENUM"}
    assert props["tags"] == {
        "type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "uniqueItems": True,
        "x-kestra-type": "MULTISELECT",
    }  # fmt: skip
    assert props["free"] == {"type": "string", "examples": ["x"], "x-kestra-type": "SELECT"}
    assert props["nums"] == {
        "type": "array", "items": {"type": "integer", "minimum": 0}, "x-kestra-type": "ARRAY",
    }  # fmt: skip
    assert props["doc"] == {"x-kestra-type": "JSON"}
    assert props["upload"]["x-kestra-type"] == "FILE"
    assert props["token"]["writeOnly"] is True
    assert props["conf"]["x-prefill"] == {"a": 1}
    json.dumps(schema)  # serialisable as is


def test_the_schema_of_no_inputs_is_an_empty_object():
    assert input_json_schema([]) == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {},
        "additionalProperties": False,
    }
