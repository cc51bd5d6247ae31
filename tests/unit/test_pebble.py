"""The Pebble -> Jinja2 translation layer: tokens, precedence and Kestra-isms."""

from __future__ import annotations

import pytest

from kernel.expressions.pebble import PebbleSyntaxError, tokenize, translate, translate_expression


def test_tokenizer_keeps_hyphenated_names_after_a_dot_as_one_attribute():
    tokens = tokenize("outputs.1-2-1_return.s1")

    assert [(t.kind, t.text) for t in tokens] == [
        ("name", "outputs"),
        ("op", "."),
        ("attr", "1-2-1_return"),
        ("op", "."),
        ("attr", "s1"),
    ]


def test_tokenizer_reads_strings_with_operators_inside_as_one_token():
    tokens = tokenize("'a ? b : c' ~ \"}}\"")

    assert [t.text for t in tokens] == ["'a ? b : c'", "~", '"}}"']


@pytest.mark.parametrize(
    ("pebble", "jinja"),
    [
        ("a ? b : c", "(b if a else c)"),
        ("a == 1 ? 'ok' : ko", "('ok' if (a == 1) else ko)"),
        ("a ? b ? 1 : 2 : 3", "((1 if b else 2) if a else 3)"),
        ("a ?? 'x'", "(a if a is kx_present else 'x')"),
        ("a ??? 'x'", "(a if a is kx_defined else 'x')"),
        ("a ?? b ?? c", "(a if a is kx_present else (b if b is kx_present else c))"),
        ("a equals b", "(a == b)"),
        ("items contains 3", "(3 in items)"),
        ("1..3", "range(1, 3)"),
        ("a - b", "(a - b)"),
        ("var-1", "(var - 1)"),
        ("outputs.1-2-1_return.s1.a.value", "outputs['1-2-1_return'].s1.a.value"),
        ("outputs.my-task.value", "outputs['my-task'].value"),
        ("outputs.1_each", "outputs['1_each']"),
        ("outputs.x - 1", "(outputs.x - 1)"),
        ("loop.index-1", "(loop.index - 1)"),
        ("x is not null", "(x is not null)"),
        ("x is defined and y", "((x is defined) and y)"),
        ("not a == b", "(not (a == b))"),
        ("x | date('yyyy', timeZone='UTC')", "(x | date('yyyy', timeZone='UTC'))"),
        ("null", "none"),
        ("x if y else z", "(x if y else z)"),
        ("{'a': {'b': 1}}", "{'a': {'b': 1}}"),
        ("[1, 2][0]", "[1, 2][0]"),
        ("x[1:]", "x[1:]"),
        ("f(a, key=1)", "f(a, key=1)"),
    ],
)
def test_expression_translation(pebble, jinja):
    assert translate_expression(pebble) == jinja


def test_concat_binds_tighter_than_filters_like_pebble():
    assert translate_expression("'a' ~ x | upper") == "(kx_concat('a', x) | upper)"


def test_coalesce_binds_tighter_than_comparison():
    assert (
        translate_expression("(inputs.failed ?? 'NONE') == 'SECOND' ? ko : '0'")
        == "(ko if (((inputs.failed if inputs.failed is kx_present else 'NONE')) == 'SECOND')"
        " else '0')"
    )


def test_unbalanced_expression_raises():
    with pytest.raises(PebbleSyntaxError):
        translate_expression("a ? b")


def test_text_outside_tags_comments_and_raw_blocks_is_untouched():
    source = "a ? b {# x ? y #} {% raw %}{{ p ? q : r }}{% endraw %} {% verbatim %}{{ v }}{% endverbatim %}"

    assert translate(source) == (
        "a ? b {# x ? y #} {% raw %}{{ p ? q : r }}{% endraw %} {% raw %}{{ v }}{% endraw %}"
    )


def test_block_tags_translate_their_expressions_and_keep_whitespace_control():
    source = (
        "{%- for x in items if x ?? false -%}{{ x }}{% endfor %}{% if a equals 1 %}y{% endif %}"
    )

    assert translate(source) == (
        "{%- for x in items if (x if x is kx_present else false) -%}{{ x }}{% endfor %}"
        "{% if (a == 1) %}y{% endif %}"
    )


def test_set_tag_translates_the_value():
    assert translate("{% set v = a ? 1 : 2 %}") == "{% set v = (1 if a else 2) %}"


def test_untranslatable_tag_is_left_for_jinja_to_report():
    assert translate("{{ broken ( }}") == "{{ broken ( }}"


def test_map_literal_closing_braces_do_not_end_the_tag():
    assert translate("{{ {'a': {'b': 1}} }} tail") == "{{ {'a': {'b': 1}} }} tail"


def test_string_without_delimiters_is_returned_as_is():
    text = "plain text with ? and : and outputs.a-b"

    assert translate(text) is text
