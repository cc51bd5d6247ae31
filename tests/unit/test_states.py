"""The two transition tables (executions, task runs) and the reopen moves of named actions."""

from __future__ import annotations

import pytest

from kernel.states import (
    ACTIVE,
    EXECUTION_ALLOWED,
    REOPEN,
    TASK_RUN_ALLOWED,
    TERMINAL,
    IllegalTransition,
    State,
    can_transition,
    check_execution_transition,
    check_task_run_transition,
    sources,
)

#: The moves the suite's runs make (recorded through the chokepoints over tests/unit,
#: the execution tests in tests/db and the real-worker integration tests): each must stay
#: legal, by itself (None) or through the action named.
SEEN_EXECUTION = [
    ("CREATED", "RUNNING", None), ("CREATED", "QUEUED", None), ("CREATED", "CANCELLED", None),
    ("CREATED", "KILLING", None), ("QUEUED", "RUNNING", None), ("QUEUED", "KILLED", None),
    ("RUNNING", "SUCCESS", None), ("RUNNING", "WARNING", None), ("RUNNING", "FAILED", None),
    ("RUNNING", "PAUSED", None), ("RUNNING", "KILLING", None), ("PAUSED", "RUNNING", None),
    ("PAUSED", "FAILED", None), ("PAUSED", "KILLING", None), ("RESTARTED", "RUNNING", None),
    ("KILLING", "KILLED", None), ("KILLING", "WARNING", None),
    ("FAILED", "RESTARTED", "restart"), ("FAILED", "RESTARTED", "change-state"),
    ("KILLED", "RESTARTED", "change-state"), ("FAILED", "RETRIED", "retry"),
    ("FAILED", "SUCCESS", "change-status"), ("SUCCESS", "FAILED", "change-status"),
    ("SUCCESS", "WARNING", "change-status"), ("WARNING", "SUCCESS", "change-status"),
]  # fmt: skip
SEEN_TASK_RUN = [
    ("CREATED", "RUNNING", None), ("CREATED", "KILLED", None), ("RUNNING", "SUCCESS", None),
    ("RUNNING", "WARNING", None), ("RUNNING", "FAILED", None), ("RUNNING", "KILLED", None),
    ("RUNNING", "CREATED", None), ("PAUSED", "RUNNING", None), ("PAUSED", "FAILED", None),
    ("RETRYING", "CREATED", None), ("RETRYING", "RUNNING", None), ("RETRYING", "KILLED", None),
    ("RESTARTED", "CREATED", None), ("FAILED", "RETRYING", "retry"),
    ("SUCCESS", "WARNING", "retry"), ("FAILED", "RESTARTED", "restart"),
    ("FAILED", "SUCCESS", "change-state"), ("SUCCESS", "RUNNING", "replay"),
    ("SUCCESS", "RESTARTED", "replay"),
]  # fmt: skip


@pytest.mark.parametrize(("current", "new", "via"), SEEN_EXECUTION)
def test_the_moves_executions_make_are_allowed(current: str, new: str, via: str | None) -> None:
    assert check_execution_transition(current, new, via=via) == State(new)


@pytest.mark.parametrize(("current", "new", "via"), SEEN_TASK_RUN)
def test_the_moves_task_runs_make_are_allowed(current: str, new: str, via: str | None) -> None:
    assert check_task_run_transition(current, new, via=via) == State(new)


@pytest.mark.parametrize("table", [EXECUTION_ALLOWED, TASK_RUN_ALLOWED])
def test_every_state_is_a_key_and_no_ended_state_leaves_by_itself(table) -> None:
    assert set(table) == set(State)
    for state in TERMINAL:
        assert table[state] == frozenset(), state


def test_the_tables_differ_where_the_kinds_do() -> None:
    # A task run retries and is re-sent after a lost lease; an execution does neither.
    assert can_transition("task_run", State.RUNNING, State.RETRYING)
    assert not can_transition("execution", State.RUNNING, State.RETRYING)
    assert can_transition("task_run", State.RUNNING, State.CREATED)
    assert not can_transition("execution", State.RUNNING, State.CREATED)
    # An execution waits in a queue and is killed in two steps; a task run does neither.
    assert can_transition("execution", State.CREATED, State.QUEUED)
    assert not can_transition("task_run", State.CREATED, State.QUEUED)
    assert can_transition("execution", State.RUNNING, State.KILLING)
    assert not can_transition("task_run", State.RUNNING, State.KILLING)


def test_success_to_running_needs_a_named_action() -> None:
    with pytest.raises(IllegalTransition, match="cannot go from SUCCESS to RUNNING"):
        check_task_run_transition(State.SUCCESS, State.RUNNING, "task run t")
    for via in ("restart", "change-state", "replay"):
        assert check_task_run_transition(State.SUCCESS, State.RUNNING, via=via) == State.RUNNING
    with pytest.raises(IllegalTransition, match=r"\(retry\)"):
        check_task_run_transition(State.SUCCESS, State.RUNNING, via="retry")
    # No action reopens an execution to RUNNING: it is RESTARTED, then the engine starts it.
    for via in REOPEN["execution"]:
        assert not can_transition("execution", State.SUCCESS, State.RUNNING, via)


def test_each_action_makes_only_its_own_moves() -> None:
    assert not can_transition("execution", State.SUCCESS, State.RESTARTED, "restart")
    assert can_transition("execution", State.SUCCESS, State.RESTARTED, "change-state")
    assert not can_transition("execution", State.KILLED, State.SUCCESS, "change-status")
    assert not can_transition("execution", State.SUCCESS, State.RETRIED, "retry")
    # A killed parent does not run again on a restart or a changed child state.
    for via in ("restart", "change-state"):
        assert not can_transition("task_run", State.KILLED, State.RUNNING, via)
    assert can_transition("task_run", State.KILLED, State.RESTARTED, "restart")
    assert not can_transition("task_run", State.RETRIED, State.RUNNING, "restart")
    # Every reopen move of an action starts from an ended state (else it needs no action).
    for kind, actions in REOPEN.items():
        for via, moves in actions.items():
            for current, new in moves:
                assert current in TERMINAL, (kind, via, current, new)


def test_an_action_never_takes_away_an_ordinary_move() -> None:
    for state in ACTIVE:
        for new in TASK_RUN_ALLOWED[state]:
            assert can_transition("task_run", state, new, "restart")


def test_unknown_kinds_and_actions_are_errors_not_refusals() -> None:
    with pytest.raises(ValueError, match="unknown kind"):
        can_transition("attempt", State.CREATED, State.RUNNING)
    with pytest.raises(ValueError, match="unknown execution action 'rewind'"):
        check_execution_transition(State.CREATED, State.RUNNING, via="rewind")


def test_the_error_names_the_row_and_the_action() -> None:
    with pytest.raises(IllegalTransition) as err:
        check_execution_transition(State.KILLED, State.SUCCESS, "execution e1", via="change-status")
    assert str(err.value) == "execution e1 (change-status): cannot go from KILLED to SUCCESS"
    assert (err.value.current, err.value.new) == (State.KILLED, State.SUCCESS)


def test_sources_are_what_a_bulk_update_filters_on() -> None:
    assert sources("task_run", State.RUNNING) == {
        State.CREATED, State.PAUSED, State.RETRYING, State.RESTARTED,
    }  # fmt: skip
    assert State.SUCCESS in sources("task_run", State.RUNNING, "restart")
    assert sources("execution", State.RETRIED) == frozenset()
    assert sources("execution", State.RETRIED, "retry") == {State.FAILED}


def test_the_planner_names_the_retry_policy() -> None:
    """The engine's own reopen move (FAILED -> RETRYING) carries its action into the plan,
    so the chokepoint that writes it accepts it."""
    from kernel.engine.plan import SetTaskRunState

    assert SetTaskRunState("r", State.RETRYING).via is None
    assert can_transition("task_run", State.FAILED, State.RETRYING, "retry")
    assert not can_transition("task_run", State.FAILED, State.RETRYING)
