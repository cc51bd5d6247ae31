"""Fuzzing the edges users type into: the flow spec parser and input coercion only ever
answer with their documented errors."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kernel.inputs import InputsError, coerce_inputs
from kernel.spec.inputs import INPUT_TYPES
from kernel.spec.model import InputSpec, SpecError
from kernel.spec.parse import parse_flow

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["{{ x }}", "{{", "{% if %}", "PT1M", "io.kestra.plugin.core.log.Log"]),
)  # fmt: skip
keys = st.sampled_from(
    ["id", "namespace", "tasks", "type", "message", "inputs", "errors", "finally", "then",
     "retry", "timeout", "values", "cases", "labels", "triggers", "cron", "concurrency", "x"]
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=6)),
    max_leaves=25,
)


@FAST
@given(st.text(max_size=300))
def test_any_text_is_a_flow_or_a_spec_error(text: str) -> None:
    try:
        parse_flow(text)
    except SpecError as exc:
        problems = exc.problems
        assert problems, "a SpecError always says what is wrong"
        assert all(p.line >= 0 for p in problems)


@FAST
@given(documents)
def test_any_yaml_structure_is_a_flow_or_a_spec_error(document) -> None:
    try:
        parse_flow(yaml.safe_dump(document))
    except SpecError as exc:
        problems = exc.problems
        assert problems, "a SpecError always says what is wrong"


@FAST
@given(
    kind=st.sampled_from(INPUT_TYPES),
    required=st.booleans(),
    value=st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=3)),
)  # fmt: skip
def test_any_submitted_value_is_typed_or_refused(kind: str, required: bool, value) -> None:
    options = {"required": required}
    if kind in ("SELECT", "ENUM", "MULTISELECT"):
        options["values"] = ["a", "b"]
    if kind == "ARRAY":
        options["itemType"] = "INT"
    spec = InputSpec("x", kind, options)
    try:
        typed = coerce_inputs([spec], {"x": value}, store_file=lambda name, upload: "kestra:///f")
    except InputsError as exc:
        errors = exc.errors
        assert set(errors) == {"x"}, "the error names the input"
    else:
        assert set(typed) == {"x"}
