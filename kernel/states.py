"""Execution and task-run states, their groups and the allowed transitions.

This module is the only place that decides whether a state change is legal, with one table
per kind (an execution, a task run) and a small table of the moves that only a named user
action may make (:data:`REOPEN`): the engine calls :func:`check_task_run_transition` and
:func:`check_execution_transition`, and every write on the Django side goes through
``executions.runtime.states``, which calls them. It imports nothing from Django or
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


def _moves(table: dict[State, set[State]]) -> dict[State, frozenset[State]]:
    """Every state as a key (an absent one moves nowhere), the targets frozen."""
    return {s: frozenset(table.get(s, ())) for s in State}


#: The moves an execution makes by itself (engine, concurrency, kill, resume, pause...).
#: No ended execution leaves its state here: that takes a user's action (:data:`REOPEN`).
EXECUTION_ALLOWED: dict[State, frozenset[State]] = _moves(
    {
        # QUEUED/CANCELLED/FAILED: a concurrency limit; RUNNING: the engine starts it;
        # KILLING: killed before it started; FAILED: its flow cannot be loaded.
        _T.CREATED: {_T.QUEUED, _T.RUNNING, _T.KILLING, _T.KILLED, _T.CANCELLED, _T.FAILED},
        _T.QUEUED: {_T.RUNNING, _T.KILLING, _T.KILLED, _T.CANCELLED, _T.FAILED},
        _T.RUNNING: {
            _T.PAUSED, _T.KILLING, _T.SUCCESS, _T.WARNING, _T.FAILED, _T.KILLED, _T.CANCELLED,
        },
        _T.PAUSED: {_T.RUNNING, _T.KILLING, _T.KILLED, _T.SUCCESS, _T.WARNING, _T.FAILED},
        _T.RESTARTED: {_T.RUNNING, _T.KILLING, _T.KILLED, _T.FAILED},
        # An Exit task may end a KILLING execution in the state it names.
        _T.KILLING: {_T.KILLED, _T.SUCCESS, _T.WARNING, _T.FAILED, _T.CANCELLED},
    }
)  # fmt: skip

#: The moves a task run makes by itself (worker, engine, lost lease, subflow ends...).
TASK_RUN_ALLOWED: dict[State, frozenset[State]] = _moves(
    {
        # RUNNING: a worker claims it (or a flowable starts); the rest: the engine decides
        # without running it (skipped, killed, a flowable ended at once, a Pause...).
        _T.CREATED: {
            _T.RUNNING, _T.PAUSED, _T.SKIPPED, _T.SUCCESS, _T.WARNING, _T.FAILED, _T.KILLED,
            _T.CANCELLED,
        },
        # CREATED: its attempt lost its lease and a new one is sent.
        _T.RUNNING: {
            _T.CREATED, _T.PAUSED, _T.RETRYING, _T.SUCCESS, _T.WARNING, _T.FAILED, _T.KILLED,
            _T.CANCELLED, _T.SKIPPED,
        },
        _T.PAUSED: {_T.RUNNING, _T.SUCCESS, _T.WARNING, _T.FAILED, _T.KILLED},
        # CREATED: a runnable's next attempt is due; RUNNING: a Subflow's next child.
        _T.RETRYING: {_T.CREATED, _T.RUNNING, _T.KILLED, _T.FAILED},
        _T.RESTARTED: {_T.CREATED, _T.RUNNING, _T.KILLED, _T.FAILED},
    }
)  # fmt: skip

#: The named actions that may move an ended row (a "reopen": SUCCESS -> RUNNING and the
#: like), with the only moves each may make, per kind. Any other move of an ended row is
#: refused, whoever asks.
_ENDED_BY_HAND = (_T.SUCCESS, _T.WARNING, _T.FAILED)
REOPEN: dict[str, dict[str, frozenset[tuple[State, State]]]] = {
    "execution": {
        # execution_restart: run a FAILED, KILLED or WARNING execution again.
        "restart": frozenset((s, _T.RESTARTED) for s in (_T.FAILED, _T.KILLED, _T.WARNING)),
        # task_run_set_state: an ended execution is re-evaluated once a run's state changed.
        "change-state": frozenset(
            (s, _T.RESTARTED) for s in (*_ENDED_BY_HAND, _T.KILLED, _T.CANCELLED)
        ),
        # execution_change_status: a user's verdict on a SUCCESS, WARNING or FAILED one.
        "change-status": frozenset(
            (a, b) for a in _ENDED_BY_HAND for b in _ENDED_BY_HAND if a != b
        ),
        # A flow's retry policy (behavior CREATE_NEW_EXECUTION): the failed one is RETRIED.
        "retry": frozenset({(_T.FAILED, _T.RETRIED)}),
    },
    "task_run": {
        # execution_restart: the failed (or killed) runnables get a new attempt, their ended
        # parents run again; a KILLED or CANCELLED parent cannot (the restart is refused).
        "restart": frozenset(
            {(_T.FAILED, _T.RESTARTED), (_T.KILLED, _T.RESTARTED)}
            | {(s, _T.RUNNING) for s in _ENDED_BY_HAND}
        ),
        # execution_replay: the copies of the replayed run and of the flowables above it.
        "replay": frozenset((s, t) for s in TERMINAL for t in (_T.RESTARTED, _T.RUNNING)),
        # task_run_set_state: a user's verdict on an ended run; its ended parents run again.
        "change-state": frozenset(
            {(a, b) for a in _ENDED_BY_HAND for b in _ENDED_BY_HAND if a != b}
            | {(s, _T.RUNNING) for s in _ENDED_BY_HAND}
        ),
        # The engine's retry policy: a failed run waits for its next attempt (RETRYING),
        # and ``warningOnRetry`` turns a run that needed retries into a WARNING.
        "retry": frozenset({(_T.FAILED, _T.RETRYING), (_T.SUCCESS, _T.WARNING)}),
    },
}

KINDS = ("execution", "task_run")


def can_transition(kind: str, current: State, new: State, via: str | None = None) -> bool:
    """Whether a row of ``kind`` (``execution`` or ``task_run``) may go ``current -> new``,
    by itself (``via`` None) or through the named action ``via`` (see :data:`REOPEN`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    actions = REOPEN[kind]
    if via is not None and via not in actions:
        raise ValueError(f"unknown {kind} action {via!r}: one of {', '.join(actions)}")
    current, new = State(current), State(new)
    table = EXECUTION_ALLOWED if kind == "execution" else TASK_RUN_ALLOWED
    return new in table[current] or (via is not None and (current, new) in actions[via])


def _check(kind: str, current: State, new: State, what: str, via: str | None) -> State:
    if not can_transition(kind, current, new, via):
        label = what or kind.replace("_", " ")
        raise IllegalTransition(State(current), State(new), label + (f" ({via})" if via else ""))
    return State(new)


def check_execution_transition(
    current: State | str, new: State | str, what: str = "", *, via: str | None = None
) -> State:
    """``new`` if an execution may go ``current -> new`` (through action ``via``), else
    :class:`IllegalTransition`."""
    return _check("execution", State(current), State(new), what, via)


def check_task_run_transition(
    current: State | str, new: State | str, what: str = "", *, via: str | None = None
) -> State:
    """``new`` if a task run may go ``current -> new`` (through action ``via``), else
    :class:`IllegalTransition`."""
    return _check("task_run", State(current), State(new), what, via)


def sources(kind: str, new: State, via: str | None = None) -> frozenset[State]:
    """The states a row of ``kind`` may reach ``new`` from: what a bulk UPDATE to ``new``
    restricts its rows to (``state__in=...``), so no illegal move can go through it."""
    return frozenset(s for s in State if can_transition(kind, s, new, via))
