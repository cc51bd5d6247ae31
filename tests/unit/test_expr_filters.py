"""Kestra's filters, tests and functions as users see them in rendered output."""

from __future__ import annotations

import datetime as dt

import pytest

from kernel.expressions.dates import format_java, java_to_strptime
from kernel.expressions.render import ExpressionError, evaluate, render

MOMENT = dt.datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "2024-03-05T14:07:09.123Z"),
        ("yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX", "2024-03-05T14:07:09.123456Z"),
        ("yy/M/d H:m:s", "24/3/5 14:7:9"),
        ("EEE EEEE MMM MMMM", "Tue Tuesday Mar March"),
        ("hh:mm a", "02:07 PM"),
        ("D 'day' Q", "65 day 1"),
        ("Z xxx", "+0000 +00:00"),
        ("'It''s' HH", "It's 14"),
    ],
)
def test_java_pattern_formatting(pattern, expected):
    assert format_java(MOMENT, pattern) == expected


def test_java_pattern_offset_in_other_zone():
    paris = MOMENT.astimezone(dt.timezone(dt.timedelta(hours=1)))

    assert format_java(paris, "HH:mmXXX Z") == "15:07+01:00 +0100"


def test_unknown_pattern_letter_is_an_error():
    with pytest.raises(ExpressionError):
        format_java(MOMENT, "bbb")


def test_java_pattern_to_strptime():
    assert java_to_strptime("yyyy-MM-dd'T'HH:mm:ss.SSSXXX") == "%Y-%m-%dT%H:%M:%S.%f%z"
    assert java_to_strptime("dd/MM/yyyy '100%'") == "%d/%m/%Y 100%%"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ d | date('yyyy-MM-dd') }}", "2024-03-05"),
        ("{{ d | date }}", "2024-03-05T14:07:09.123456Z"),
        ("{{ d | date('HH:mm', timeZone='Europe/Paris') }}", "15:07"),
        ("{{ '2019-10-06T18:27:49Z' | date('dd.MM.yyyy HH:mm') }}", "06.10.2019 18:27"),
        ("{{ '2019-10-06' | date('EEEE') }}", "Sunday"),
        ("{{ 1700000000 | date('yyyy-MM-dd HH:mm:ss') }}", "2023-11-14 22:13:20"),
        ("{{ '06/10/2019' | date('yyyy-MM-dd', existingFormat='dd/MM/yyyy') }}", "2019-10-06"),
        ("{{ d | dateAdd(-1, 'DAYS') | date('yyyy-MM-dd') }}", "2024-03-04"),
        ("{{ d | dateAdd(1, 'MONTHS', format='yyyy-MM') }}", "2024-04"),
        ("{{ '2024-01-31' | dateAdd(1, 'MONTHS', format='yyyy-MM-dd') }}", "2024-02-29"),
        ("{{ '2019-10-06T18:27:49Z' | timestamp }}", "1570386469"),
        ("{{ '2019-10-06T18:27:49.5Z' | timestampMilli }}", "1570386469500"),
        ("{{ '2019-10-06T18:27:49Z' | timestampMicro }}", "1570386469000000"),
    ],
)
def test_date_filters(template, expected):
    assert render(template, {"d": MOMENT}) == expected


def test_date_filter_rejects_garbage():
    with pytest.raises(ExpressionError) as err:
        render("{{ 'not a date' | date }}", {})

    assert "Cannot parse 'not a date' as a date" in str(err.value)


def test_now_is_timezone_aware_and_uses_the_injected_clock():
    class Clock:
        def now(self):
            return MOMENT

    context = {"_trellis": Clock()}

    assert render("{{ now() }}", context) == "2024-03-05T14:07:09.123456Z"
    assert render("{{ now(timeZone='Asia/Tokyo') | date('HH') }}", context) == "23"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ data | json }}", '{"a":1,"b":[true,null],"c":"é"}'),
        ("{{ data | toJson }}", '{"a":1,"b":[true,null],"c":"é"}'),
        ("{{ 'x' | json }}", '"x"'),
        ("{{ fromJson('{\"a\": [1]}').a[0] }}", "1"),
        ("{{ '[1,2]' | fromJson | length }}", "2"),
        ("{{ data | jq('.b[0]') }}", "[true]"),
        ("{{ data | jq('.a') | first }}", "1"),
        ("{{ data | keys }}", '["a","b","c"]'),
        ("{{ {'x': 1, 'y': 2} | values }}", "[1,2]"),
        ("{{ '' | default('dflt') }}", "dflt"),
        ("{{ none | default('dflt') }}", "dflt"),
        ("{{ missing | default('dflt') }}", "dflt"),
        ("{{ 'v' | default('dflt') }}", "v"),
        (
            "{{ 'Hello World' | upper }}|{{ 'ABC' | lower }}|{{ '  x ' | trim }}",
            "HELLO WORLD|abc|x",
        ),
        ("{{ 'hello world' | capitalize }}|{{ 'hello world' | title }}", "Hello world|Hello World"),
        ("{{ 'abc' | length }}|{{ [1, 2] | length }}|{{ none | length }}", "3|2|0"),
        ("{{ [1, 2, 3] | first }}{{ [1, 2, 3] | last }}", "13"),
        ("{{ [1, true, 'a'] | join(',') }}", "1,true,a"),
        ("{{ 'a,b,,c' | split(',') }}", '["a","b","","c"]'),
        ("{{ 'a,b,c' | split(',', 2) }}", '["a","b,c"]'),
        ("{{ 'hello' | replace({'l': 'L', 'o': '0'}) }}", "heLL0"),
        ("{{ 'hello' | replace('l', 'L') }}", "heLLo"),
        ("{{ 'a1b22' | replace({'[0-9]+': '#'}, regexp=true) }}", "a#b#"),
        ("{{ 'Héllo Wörld, Ça va?' | slugify }}", "hello-world-ca-va"),
        ("{{ '12' | number + 1 }}|{{ '1.5' | number }}|{{ '7' | number('FLOAT') }}", "13|1.5|7.0"),
        ("{{ 'abcdefghij' | abbreviate(6) }}|{{ 'abc' | abbreviate(6) }}", "abc...|abc"),
        ("{{ 'a.b.c' | substringBefore('.') }}|{{ 'a.b.c' | substringAfter('.') }}", "a|b.c"),
        (
            "{{ 'a.b.c' | substringBeforeLast('.') }}|{{ 'a.b.c' | substringAfterLast('.') }}",
            "a.b|c",
        ),
        ("{{ 'abc' | substringAfter('x') }}|{{ 'abc' | substringBefore('x') }}", "|abc"),
        ("{{ 'abc' | startsWith('ab') }} {{ 'abc' | endsWith('x') }}", "true false"),
        ("{{ [[1, 2], [3], 4] | flatten }}", "[1,2,3,4]"),
        ("{{ [1, 2, 3, 4, 5] | chunk(2) }}", "[[1,2],[3,4],[5]]"),
        ("{{ 'a\nb' | indent(2) }}", "a\n  b"),
        ("{{ 'a\nb' | nindent(2) }}", "\n  a\n  b"),
        ("{{ 'a b&c' | urlencode }}|{{ 'a+b%26c' | urldecode }}", "a+b%26c|a b&c"),
        ("{{ 'hello' | base64encode }}|{{ 'aGVsbG8=' | base64decode }}", "aGVsbG8=|hello"),
        ("{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"),
        ("{{ 'abc' | sha1 }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        (
            "{{ 'abc' | sha256 }}",
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
        ),
        ("{{ 'abc' | sha512 | length }}", "128"),
        (
            "{{ \"it's\" | escapeChar('single') }}|{{ 'say \"hi\"' | escapeChar('double') }}",
            'it\\\'s|say \\"hi\\"',
        ),
        ("{{ \"it's\" | escapeChar('shell') }}", "it'\\''s"),
        ("{{ {'a': [1, 2]} | yaml }}", "a:\n- 1\n- 2\n"),
        ("{{ max(1, 5, 3) }} {{ min([4, 2]) }}", "5 2"),
        ("{{ range(3) }} {{ range(1, 3) }} {{ range(10, 0, -5) }}", "[0,1,2] [1,2,3] [10,5,0]"),
        ("{{ uuid() | length }}", "36"),
        (
            "{{ x is null }} {{ '' is empty }} {{ [] is empty }} {{ {'a': 1} is map }}",
            "true true true true",
        ),
        ("{{ 3 is odd }} {{ 'x' is not null }}", "true true"),
    ],
)
def test_filters_functions_and_tests(template, expected):
    context = {"data": {"a": 1, "b": [True, None], "c": "é"}, "x": None}

    assert render(template, context) == expected


def test_jq_returns_a_native_list():
    assert evaluate("{{ data | jq('.items[]') }}", {"data": {"items": [1, 2]}}) == [1, 2]


def test_filter_on_undefined_value_raises():
    with pytest.raises(ExpressionError):
        render("{{ missing | upper }}", {})


def test_print_context_hides_trellis_entry():
    text = render("{{ printContext() }}", {"inputs": {"a": 1}, "_trellis": object()})

    assert '"inputs"' in text
    assert "_trellis" not in text


# ------------------------------------------- issue 8's list, each item as Kestra renders it

ISSUE_CONTEXT = {
    "flow": {"id": "f", "namespace": "company.team"},
    "outputs": {"1-2-1_return": {"s1": {"a": {"value": "deep"}}}, "t": {"value": "v"}},
    "inputs": {"n": 3, "empty": "", "doc": '{"a": 1}', "when": "2024-03-05T14:07:09Z"},
    "vars": {"tpl": "{{ inputs.n * 2 }}", "nested": "{{ vars.tpl }}"},
    "taskrun": {"value": "x"},
    "parents": [{"taskrun": {"value": "v1", "iteration": 0}}],
    "loop": {"v1": {"x": {"value": "mine"}}},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ inputs.n > 2 ? 'big' : 'small' }}", "big"),
        ("{{ missing ?? 'fallback' }}", "fallback"),
        ("{{ inputs.nothing ??? 'undefined only' }}", "undefined only"),
        ("{{ inputs.n equals 3 }}", "true"),
        ("{{ 'a' ~ inputs.n ~ true }}", "a3true"),
        ("{{ missing is defined }} {{ inputs.n is defined }}", "false true"),
        ("{{ outputs.t.value is not null }} {{ inputs.empty is empty }}", "true true"),
        ("{{ inputs.doc is json }} {{ 'nope' is json }}", "true false"),
        ("{{ outputs.1-2-1_return.s1.a.value }}", "deep"),
        ("{{ inputs.when | date(\"yyyy-MM-dd'T'HH:mm\") }}", "2024-03-05T14:07"),
        ("{{ inputs.when | dateAdd(1, 'DAYS') | date('yyyy-MM-dd') }}", "2024-03-06"),
        ("{{ {'a': [1, 2]} | json }} {{ toJson('x') }}", '{"a":[1,2]} "x"'),
        ("{{ fromJson(inputs.doc).a }} {{ json(inputs.doc).a }}", "1 1"),
        ("{{ {'a': {'b': 2}} | jq('.a.b') | first }}", "2"),
        ("{{ {'a': 1, 'b': 2} | keys }} {{ {'a': 1, 'b': 2} | values }}", '["a","b"] [1,2]'),
        ("{{ '12' | number + 1 }} {{ '0.5' | number('DOUBLE') }}", "13 0.5"),
        ("{{ 'Hello, World_2 a.b' | slugify }}", "hello-world-2-ab"),
        ("{{ 'a.b.c' | substringBefore('.') }}|{{ 'a.b.c' | substringAfter('.') }}", "a|b.c"),
        ("{{ 'a.b.c' | substringBeforeLast('.') }}|{{ 'a.b.c' | substringAfterLast('.') }}",
         "a.b|c"),
        ("{{ 'kestra' | startsWith('kes') }} {{ 'kestra' | endsWith('tra') }}", "true true"),
        ("{{ [[1], [2, [3]], 4] | flatten }}", "[1,2,[3],4]"),
        ("{{ 'a\nb' | indent(2) }}|{{ 'a\nb' | nindent(2) }}|{{ '' | nindent(2) }}",
         "a\n  b|\n  a\n  b|"),
        ("{{ [1, 2, 3] | chunk(2) }}", "[[1,2],[3]]"),
        ("{{ 'a%20b+c' | urldecode }}", "a b c"),
        # the FIPS test vectors for "abc"
        ("{{ 'abc' | md5 }}", "900150983cd24fb0d6963f7d28e17f72"),
        ("{{ 'abc' | sha1 }}", "a9993e364706816aba3e25717850c26c9cd0d89d"),
        ("{{ ('abc' | sha512)[:16] }}", "ddaf35a193617aba"),
        ("{{ render(vars.nested) }}|{{ renderOnce(vars.nested) }}", "6|{{ inputs.n * 2 }}"),
        ("{{ currentEachOutput(loop).value }}", "mine"),
        ("{{ fileURI('scripts/a.py') }}", "kestra:///company/team/_files/scripts/a.py"),
        ("{{ uuid() | length }}", "36"),
        ("{{ 1234.5 | numberformat('#,##0.00') }}", "1,234.50"),
        ("{{ 'x' | className }} {{ 1 | className }}", "java.lang.String java.lang.Long"),
        ("{{ randomInt(5, 6) }}", "5"),
        ("{% for i in [1, 2] %}{{ i }}{% endfor %} {{ 'jinja' | upper }}", "12 JINJA"),
    ],
)  # fmt: skip
def test_every_expression_of_issue_8_renders_as_in_kestra(template, expected):
    assert render(template, ISSUE_CONTEXT) == expected


def test_print_context_shows_the_variables_as_json():
    import json

    shown = json.loads(render("{{ printContext() }}", ISSUE_CONTEXT))

    assert shown["inputs"]["n"] == 3
    assert shown["flow"] == {"id": "f", "namespace": "company.team"}
