"""Known sandbox escapes and resource attacks must all fail with ExpressionError."""

from __future__ import annotations

import time

import pytest

from kernel.expressions.render import ExpressionError, LimitExceeded, evaluate, render

ESCAPES = [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__ }}",
    "{{ [].__class__.__base__ }}",
    "{{ {}.__class__.__init__.__globals__ }}",
    "{{ now.__globals__ }}",
    "{{ range.__code__ }}",
    "{{ secret.__globals__['os'] }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ cycler.__init__.__globals__.os }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ joiner.__init__.__globals__ }}",
    "{{ namespace.__init__.__globals__ }}",
    "{{ '{0.__class__.__mro__}'.format(1) }}",
    "{{ '{0.__globals__}'.format(now) }}",
    "{{ ''|attr('__class__') }}",
    "{{ inputs.__class__ }}",
    "{{ inputs.items.__self__.__class__ }}",
    "{{ (1).__class__.__subclasses__() }}",
    "{{ _trellis.read('/etc/passwd') }}",
    "{{ inputs.list.append(1) }}",
    "{{ inputs.update({'a': 1}) }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ config }}",
    "{{ request }}",
    # attribute walks to the class hierarchy, spelled every way the sandbox must catch
    "{{ ''.__class__.__mro__[1].__subclasses__()[0] }}",
    "{{ ''.__class__.mro() }}",
    "{{ ''['__class__'] }}",
    "{{ ''|attr('__cla' ~ 'ss__') }}",
    "{{ (1).real.__class__.__bases__ }}",
    "{{ ().__class__.__bases__[0].__subclasses__() }}",
    "{{ {}.items().__class__ }}",
    "{{ now.__code__.co_consts }}",
    "{{ now.__closure__ }}",
    "{{ now.__module__ }}",
    "{{ ''.join.__self__.__class__ }}",
    "{{ kx_iter.__globals__ }}",
    "{{ kx_iter([1]).gi_frame.f_globals }}",
    "{{ __builtins__ }}",
    "{{ __import__('os') }}",
    "{{ _trellis }}",
    # format-string tricks: str.format / format_map / the format filter / %-formatting
    "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "{{ '{0[__class__]}'.format({}) }}",
    "{{ '{0.real.__class__}'.format(1) }}",
    "{{ '{.__init__.__globals__}'.format(now) }}",
    "{{ '%s' % ''.__class__ }}",
    "{{ '%(a)s' % {'a': ''.__class__} }}",
    "{{ '%s' | format(''.__class__) }}",
]


class IO:
    def read(self, path):
        return "SHOULD NOT BE REACHABLE"


@pytest.mark.parametrize("template", ESCAPES)
def test_known_escape_fails_with_expression_error(template):
    context = {"inputs": {"list": [1]}, "_trellis": IO()}

    with pytest.raises(ExpressionError):
        render(template, context)


@pytest.mark.parametrize(
    "template",
    [
        "{{ range(100000) }}",
        "{{ range(0, 20000) }}",
        "{{ 'a' * 20000000 }}",
        "{{ [1] * 1000000 }}",
        "{{ 10 ** 100000 }}",
        "{{ '%99999999d' % 1 }}",
        "{{ '{:>99999999}'.format('x') }}",
        "{{ 'x'.center(99999999) }}",
        "{{ 'x' | center(99999999) }}",
        "{{ 'x' | indent(99999999) }}",
        "{% set ns = namespace(s='a' * 1000000) %}{% for i in range(50) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
        "{% set ns = namespace(s='a' * 1000000) %}{% for i in range(50) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
        "{% for i in range(10000) %}{{ 'x' * 2000 }}{% endfor %}",
    ],
)
def test_resource_limits_fail_with_limit_exceeded(template):
    with pytest.raises(LimitExceeded):
        render(template, {})


@pytest.mark.parametrize(
    "template",
    [
        # a list holding the same list twice, nested: tiny in memory, 2**40 when printed
        "{% set ns = namespace(l=[1]) %}{% for i in range(40) %}{% set ns.l = [ns.l, ns.l] %}"
        "{% endfor %}{{ ns.l }}",
        "{% set ns = namespace(l={}) %}{% for i in range(40) %}"
        "{% set ns.l = {'a': ns.l, 'b': ns.l} %}{% endfor %}{{ ns.l | json }}",
        # two such structures compared element by element
        "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(40) %}"
        "{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}"
        "{{ ns.a == ns.b }}",
        "{% set ns = namespace(t=(1,)) %}{% for i in range(40) %}{% set ns.t = (ns.t, ns.t) %}"
        "{% endfor %}{{ ns.t | length }}",
        # many references to one big string
        "{% set big = ['x' * 1000000] %}{{ (big * 100000) | length }}",
        "{% set b = 'x' * 1000000 %}{% set l = [b, b, b, b, b] %}{{ [l, l, l, l, l] | length }}",
        "{% set b = ['x' * 1000000] * 5 %}{{ (b + b + b + b + b) | length }}",
        # integers whose arithmetic cannot be interrupted
        "{% set ns = namespace(x=10**999) %}{% for i in range(24) %}{% set ns.x = ns.x * ns.x %}"
        "{% endfor %}{{ ns.x > 1 }}",
        "{{ (10 ** 999) ** 999 > 1 }}",
        "{{ (10 ** 999 * 10 ** 999) * (10 ** 999 * 10 ** 999) * 10 ** 999 ** 2 > 1 }}",
    ],
)
def test_amplification_bombs_fail_fast_with_limit_exceeded(template):
    started = time.monotonic()

    with pytest.raises(LimitExceeded):
        render(template, {})

    assert time.monotonic() - started < 3


def test_values_within_the_limits_still_work():
    assert render("{{ 2 ** 1000 > 1 }}", {}) == "true"
    assert render("{% set l = [1, 2] %}{{ [l, l, (l, l), {'a': l}] }}", {}) == (
        '[[1,2],[1,2],[[1,2],[1,2]],{"a":[1,2]}]'
    )
    many = "{% set ns = namespace(l=[]) %}{% for i in range(2000) %}{% set ns.l = ns.l + [i] %}"
    assert render(many + "{% endfor %}{{ ns.l | length }}", {}) == "2000"
    assert render("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}", {}) == "a=1"


def test_deep_nesting_in_the_context_is_weighed_without_recursion():
    deep: list = []
    for _ in range(5000):
        deep = [deep]

    assert render("{{ [data] | length }}", {"data": deep}) == "1"


def test_output_size_is_limited():
    with pytest.raises(LimitExceeded, match="rendered output exceeds"):
        render("{% for i in range(20) %}{{ 'x' * 1000000 }}{% endfor %}", {})


def test_cpu_time_limit_stops_long_loops():
    template = (
        "{% for i in range(10000) %}{% for j in range(10000) %}{% for k in range(10000) %}"
        "{% endfor %}{% endfor %}{% endfor %}"
    )
    started = time.monotonic()

    with pytest.raises(LimitExceeded) as err:
        render(template, {}, timeout=0.3)

    assert time.monotonic() - started < 3
    assert "time limit" in str(err.value)


def test_cpu_time_limit_covers_loops_over_context_lists():
    context = {"items": list(range(5000))}
    template = "{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}"

    with pytest.raises(LimitExceeded):
        render(template, context, timeout=0.2)


def test_runaway_recursive_render_is_stopped():
    context = {"vars": {"loop": "{{ render(vars.loop) }}"}}

    with pytest.raises(ExpressionError):
        render("{{ render(vars.loop) }}", context)


def test_evaluate_is_sandboxed_too():
    with pytest.raises(ExpressionError):
        evaluate("{{ ''.__class__ }}", {})


def test_context_cannot_be_mutated_by_a_template():
    data = {"inputs": {"list": [1], "map": {"a": 1}}}

    with pytest.raises(ExpressionError):
        render("{{ inputs.list.pop() }}", data)
    assert data == {"inputs": {"list": [1], "map": {"a": 1}}}


@pytest.mark.parametrize(
    "template", ["{{ [[1] * 10000] * 10000 }}", "{{ [['x' * 1000000] * 10] * 100 }}"]
)
def test_evaluate_keeps_native_values_within_the_weight_limit(template):
    with pytest.raises(LimitExceeded, match="nodes and characters"):
        evaluate(template, {})


@pytest.mark.parametrize(
    "payload", ["{{ 7 * 6 }}", "{{ ''.__class__ }}", "{% for i in range(9) %}"]
)
def test_values_are_data_never_templates(payload):
    # an input or a webhook body holding template text comes out as that text
    context = {"inputs": {"x": payload}, "trigger": {"body": {"a": payload}}}

    assert render("{{ inputs.x }}", context) == payload
    assert render("[{{ trigger.body.a }}]", context) == f"[{payload}]"
    assert evaluate("{{ trigger.body }}", context) == {"a": payload}
