"""Execution and task-run states, their groups and the allowed transitions.

This module is the only place that decides whether a state change is legal: the engine,
persistence and services all call :func:`check_transition`. It imports nothing from Django or
Celery so the pure engine can use it.
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    CREATED = "CREATED"
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    RESTARTED = "RESTARTED"
    KILLING = "KILLING"
    SUCCESS = "SUCCESS"
    WARNING = "WARNING"
    FAILED = "FAILED"
    KILLED = "KILLED"
    CANCELLED = "CANCELLED"
    RETRYING = "RETRYING"
    RETRIED = "RETRIED"
    SKIPPED = "SKIPPED"


#: States after which nothing more happens unless a user acts (restart, replay...).
TERMINAL: frozenset[State] = frozenset(
    {
        State.SUCCESS,
        State.WARNING,
        State.FAILED,
        State.KILLED,
        State.CANCELLED,
        State.RETRIED,
        State.SKIPPED,
    }
)
#: Terminal states that count as "it worked" for a parent or the next sibling.
SUCCESSFUL: frozenset[State] = frozenset({State.SUCCESS, State.WARNING, State.SKIPPED})
#: Terminal states that stop a sequence and start the `errors` branch.
FAILING: frozenset[State] = frozenset({State.FAILED, State.KILLED, State.CANCELLED})
#: Not terminal: something is still to happen.
ACTIVE: frozenset[State] = frozenset(State) - TERMINAL

# Worst first; used to reduce the states of a branch into one. PAUSED sits above SUCCESS
# so that a paused child keeps its parent (and the execution) paused.
_SEVERITY: dict[State, int] = {
    State.KILLED: 70,
    State.CANCELLED: 65,
    State.FAILED: 60,
    State.WARNING: 40,
    State.PAUSED: 30,
    State.SUCCESS: 10,
    State.SKIPPED: 5,
    State.RETRIED: 0,
}


def worst(states: list[State] | tuple[State, ...] | set[State]) -> State:
    """The worst terminal state of a branch (KILLED > FAILED > WARNING > PAUSED > SUCCESS).

    An empty branch is a SUCCESS; RETRIED attempts are ignored (their retry decides).
    """
    best = State.SUCCESS
    for s in states:
        if _SEVERITY.get(s, 0) > _SEVERITY[best]:
            best = s
    return best


class IllegalTransition(ValueError):
    """A state change that the transition table refuses."""

    def __init__(self, current: State, new: State, what: str = "") -> None:
        self.current, self.new = current, new
        super().__init__(f"{what + ': ' if what else ''}cannot go from {current} to {new}")


_T = State
ALLOWED: dict[State, frozenset[State]] = {
    _T.CREATED: frozenset(
        {
            _T.QUEUED,
            _T.RUNNING,
            _T.SKIPPED,
            _T.KILLING,
            _T.KILLED,
            _T.CANCELLED,
            _T.FAILED,
            _T.SUCCESS,
            _T.WARNING,
            _T.PAUSED,
        }
    ),
    _T.QUEUED: frozenset({_T.CREATED, _T.RUNNING, _T.KILLING, _T.KILLED, _T.CANCELLED, _T.FAILED}),
    _T.RUNNING: frozenset(
        {
            _T.SUCCESS,
            _T.WARNING,
            _T.FAILED,
            _T.KILLING,
            _T.KILLED,
            _T.PAUSED,
            _T.RETRYING,
            _T.CANCELLED,
            _T.CREATED,
            _T.RUNNING,
            _T.SKIPPED,
        }
    ),
    _T.PAUSED: frozenset({_T.RUNNING, _T.KILLING, _T.KILLED, _T.FAILED, _T.SUCCESS, _T.WARNING}),
    _T.RETRYING: frozenset(
        {_T.RUNNING, _T.CREATED, _T.QUEUED, _T.KILLING, _T.KILLED, _T.FAILED, _T.RETRIED}
    ),
    _T.KILLING: frozenset({_T.KILLED, _T.FAILED, _T.SUCCESS, _T.WARNING, _T.CANCELLED}),
    _T.RESTARTED: frozenset({_T.RUNNING, _T.CREATED, _T.KILLING, _T.KILLED, _T.FAILED}),
    # Terminal states only leave through a user's action (restart, change state, replay).
    _T.FAILED: frozenset(
        {_T.RESTARTED, _T.SUCCESS, _T.WARNING, _T.RETRIED, _T.RETRYING, _T.RUNNING}
    ),
    _T.KILLED: frozenset({_T.RESTARTED}),
    _T.WARNING: frozenset({_T.RESTARTED, _T.SUCCESS, _T.FAILED, _T.RETRYING, _T.RUNNING}),
    _T.SUCCESS: frozenset({_T.RESTARTED, _T.FAILED, _T.WARNING, _T.RUNNING}),
    _T.CANCELLED: frozenset({_T.RESTARTED}),
    _T.RETRIED: frozenset(),
    _T.SKIPPED: frozenset(),
}


def can_transition(current: State, new: State) -> bool:
    return new in ALLOWED[current]


def check_transition(current: State, new: State, what: str = "") -> State:
    """Return ``new`` if ``current -> new`` is allowed, else raise :class:`IllegalTransition`."""
    if not can_transition(State(current), State(new)):
        raise IllegalTransition(State(current), State(new), what)
    return State(new)
