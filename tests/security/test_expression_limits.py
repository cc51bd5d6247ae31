"""Issue 21, "denial of service through expressions": every attack row of the issue, replayed.

Each expression must end within its budget with a clear error that names it, and a size that
follows from the arguments is refused before Python allocates it (peak memory is measured
with tracemalloc, which sees every str and list the interpreter allocates).
"""

from __future__ import annotations

import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from rest_framework.test import APIClient

from flows.services import flow_deploy
from kernel.expressions import jq as expr_jq
from kernel.expressions.limits import expression_budget
from kernel.expressions.render import LimitExceeded, check_syntax, evaluate, render
from kernel.inputs import InputsError, coerce_inputs
from kernel.spec.model import InputSpec
from tests.conftest import flow_yaml
from tests.db.api_support import writer
from triggers.preconditions import _compare

JQ_LOOP = "{{ 1 | jq('def f: f; f') }}"
CATASTROPHIC = "{{ (('a' * 60) ~ 'b') | replace({'(a|aa)+$': 'x'}, regexp=true) }}"
#: Far below what the attacks allocated (1-3 GB); above the inputs the tests build (10 MB).
PEAK_LIMIT = 40 * 1024 * 1024


@contextmanager
def elapsed() -> Iterator[list[float]]:
    took: list[float] = []
    start = time.monotonic()
    try:
        yield took
    finally:
        took.append(time.monotonic() - start)


@contextmanager
def heartbeat() -> Iterator[list[int]]:
    """A thread that beats every 10 ms, as the worker's heartbeat thread does; a call that
    holds the GIL starves it."""
    beats = [0]
    done = threading.Event()

    def beat() -> None:
        while not done.wait(0.01):
            beats[0] += 1

    thread = threading.Thread(target=beat)
    thread.start()
    try:
        yield beats
    finally:
        done.set()
        thread.join()


def peak_memory_of(template: str) -> tuple[int, BaseException | None]:
    tracemalloc.start()
    try:
        evaluate(template, {})
        error = None
    except LimitExceeded as exc:
        error = exc
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak, error


def test_parsing_never_runs_a_filter_with_constant_arguments() -> None:
    """Jinja's optimiser folded `1 | jq(...)` while parsing: validating the flow spun."""
    with elapsed() as took:
        assert check_syntax(JQ_LOOP) is None
        assert check_syntax("{{ ('a' * 1000) | replace('a', 'b' * 1000000) }}") is None
    assert took[0] < 1.0


def test_validate_endpoint_answers_at_once_for_a_jq_infinite_loop(db, django_user_model) -> None:
    client = APIClient()
    client.force_authenticate(writer(django_user_model, "ana", password="pw"))
    body = flow_yaml("spin", message=f'"{JQ_LOOP}"')

    with elapsed() as took:
        response = client.generic("POST", "/api/v1/flows/validate", body,
                                  content_type="application/x-yaml")  # fmt: skip

    assert took[0] < 2.0
    assert response.status_code == 200
    assert response.json()[0]["valid"] is True  # the loop is a run-time matter, bounded there


def test_flow_deploy_of_a_jq_infinite_loop_returns_at_once(db) -> None:
    """`flow deploy` of it spun at full CPU for ten minutes."""
    with elapsed() as took:
        deployed = flow_deploy(source=flow_yaml("spin", message=f'"{JQ_LOOP}"'))
    assert deployed.flow.flow_id == "spin"
    assert took[0] < 2.0


def test_jq_infinite_loop_stops_at_the_budget_with_the_expression_named() -> None:
    with heartbeat() as beats, elapsed() as took, pytest.raises(LimitExceeded) as caught:
        render(JQ_LOOP, {}, timeout=1.0)
    assert took[0] < 3.0
    assert "jq 'def f: f; f' was stopped" in str(caught.value)
    assert JQ_LOOP in str(caught.value)
    assert beats[0] > 30  # the heartbeat thread kept beating while jq looped


def test_jq_exhausting_memory_kills_only_its_helper(monkeypatch) -> None:
    """`[range(1e8)] | jq` aborted the whole worker (jq calls abort() when malloc fails)."""
    monkeypatch.setattr(expr_jq, "MEMORY_LIMIT", 128 * 1024 * 1024)
    monkeypatch.setattr(expr_jq, "_idle", [])

    with pytest.raises(LimitExceeded, match="jq '.range.1e8..' was stopped"):
        render("{{ 1 | jq('[range(1e8)]') }}", {}, timeout=20)

    assert evaluate("{{ {'a': [1, 2]} | jq('.a[]') }}", {}) == [1, 2]  # this process lives on


def test_catastrophic_regex_is_stopped_without_starving_other_threads() -> None:
    with heartbeat() as beats, pytest.raises(LimitExceeded) as caught:
        render(CATASTROPHIC, {}, timeout=0.5)
    assert "regular expression '(a|aa)+$'" in str(caught.value)
    assert beats[0] > 20  # the match ran without the GIL


def test_regex_replace_still_works_with_java_group_references() -> None:
    assert render(
        "{{ 'joe@host' | replace({'(\\\\w+)@(\\\\w+)': '$2/$1'}, regexp=true) }}", {}
    ) == ("host/joe")


@pytest.mark.parametrize(
    ("template", "refusal"),
    [
        ("{{ ('a' * 1000).replace('a', 'b' * 1000000) }}", "str.replace would make 1000000000"),
        ("{{ ('a' * 1000) | replace('a', 'b' * 1000000) }}", "replace would make 1000000000"),
        ("{{ '{0:{1}}'.format('a', 1000000000) }}", "format width of 1000000000"),
        ("{{ '{:{}}'.format('a', 1000000000) }}", "format width of 1000000000"),
        ("{{ '%.999999999f' % 1.5 }}", "format width of 999999999"),
        ("{{ '%0999999999d' | format(1) }}", "format width of 999999999"),
        ("{{ ('x\n' * 1000000) | indent(10000) }}", "indent would make"),
        ("{{ 'x' | indent(1000, prefix='y' * 100000) }}", "indent would make 100000000"),
        ("{{ ('y' * 1000).join(['x'] * 100000) }}", "join would make 99999000"),
        ("{{ (['x'] * 100000) | join('y' * 1000) }}", "join would make 99999000"),
        ("{{ ('a' * 10000000) | list | length }}", "'list' of a string would make 10000000"),
        ("{{ ('a,' * 5000000) | split(',') | length }}", "split would make 5000001"),
        ("{{ now(format='yyyy' * 1000000) }}", "date pattern would make 4000000"),
        ("{{ ('a ' * 5000000) | title | length }}", "'title' of a string would make 10000000"),
        ("{{ ('&' * 5000000) | escape | length }}", "escape would make 25000000"),
    ],
)
def test_allocation_attacks_are_refused_before_allocating(template: str, refusal: str) -> None:
    with elapsed() as took:
        peak, error = peak_memory_of(template)
    assert error is not None, "the expression was not refused"
    assert refusal in str(error)
    assert template[:40] in str(error)  # the message names the expression
    assert peak < PEAK_LIMIT, f"{peak / 1e6:.0f} MB allocated before the refusal"
    assert took[0] < 2.0  # `|list` of 10 MB and the huge date pattern took 15 s before


def test_ordinary_formatting_is_untouched() -> None:
    assert render("{{ '{0:>5}|{1:.2f}'.format('a', 1.5) }}", {}) == "    a|1.50"
    assert render("{{ '%s-%03d' | format('a', 7) }}", {}) == "a-007"
    assert render("{{ 'a\nb' | indent(2) }}", {}) == "a\n  b"
    assert render("{{ now(format='yyyy') | length }}", {}) == "4"


def test_an_enclosing_budget_stops_a_render_early_and_says_so() -> None:
    with (
        expression_budget(0.5, message="Timeout after PT0.5S (task timeout)"),
        elapsed() as took,
        pytest.raises(LimitExceeded, match=r"Timeout after PT0\.5S \(task timeout\)"),
    ):
        render(JQ_LOOP, {})  # its own budget is the default 5 s
    assert took[0] < 2.0


def test_a_catastrophic_input_validator_is_refused_within_a_second_of_cpu() -> None:
    """An input's `validator` runs in the web process that creates the run."""
    spec = InputSpec("x", "STRING", {"validator": "(a|aa)+$"})
    with heartbeat() as beats, elapsed() as took, pytest.raises(InputsError) as caught:
        coerce_inputs([spec], {"x": "a" * 60 + "b"})
    assert "its pattern `(a|aa)+$` could not be checked" in caught.value.errors["x"]
    assert beats[0] > 20
    assert took[0] < 10.0  # one second of CPU; the machine may be shared


def test_nested_budgets_only_tighten_and_the_binding_one_is_named() -> None:
    with (
        expression_budget(30, per_expression=0.3, message="executor budget spent"),
        expression_budget(60, message="task timeout"),  # looser: the outer one still holds
        pytest.raises(LimitExceeded, match="executor budget spent"),
    ):
        render(JQ_LOOP, {})


def test_a_catastrophic_regex_precondition_is_stopped() -> None:
    """Flow-trigger preconditions match under the trigger's lock."""
    with heartbeat() as beats, pytest.raises(LimitExceeded, match="regular expression"):
        _compare("REGEX", "a" * 60 + "b", "(a|aa)+$", None)
    assert beats[0] > 20
