"""Known sandbox escapes and resource attacks must all fail with ExpressionError."""

from __future__ import annotations

import time

import pytest

from executions.expressions import ExpressionError, LimitExceeded, evaluate, render

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
