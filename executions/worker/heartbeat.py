"""Running attempts' heartbeats: one watcher thread per worker process serves them all.

Each attempt's beat flushes its logs every second, stops the task at its ``timeout``, and
every ``TRELLIS_HEARTBEAT_SECONDS`` extends the lease and checks that the attempt is still
its own and the execution not killed; any of those raises ``stop``. A thread per attempt did
the same, but starting and joining it cost more than a short task's whole run, so one thread
is started per process, on its first attempt, and attempts join and leave its list.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from executions.models import Execution, TaskRunAttempt
from executions.worker.run_context import AttemptLogger
from kernel.clock import now
from kernel.states import State
from orchestrator.observability import metrics

log = logging.getLogger(__name__)


class Heartbeat:
    """One running attempt's beat; ``stop`` and ``reason`` say whether and why it must end."""

    def __init__(
        self,
        attempt_id: int,
        execution_id: str,
        owner: str,
        logger: AttemptLogger,
        deadline: Any,
        timeout_text: str = "",
    ) -> None:
        self.attempt_id, self.execution_id, self.owner = attempt_id, execution_id, owner
        self.logger, self.deadline, self.timeout_text = logger, deadline, timeout_text
        self.stop = threading.Event()
        self.reason = ""
        self.interval = min(settings.TRELLIS_HEARTBEAT_SECONDS, 1.0)
        self._next_tick = self._next_beat = 0.0
        #: Held while the watcher ticks this beat, so ``finish`` never races a tick.
        self._busy = threading.Lock()

    def start(self) -> None:
        started = time.monotonic()
        self._next_tick = started + self.interval
        self._next_beat = started + settings.TRELLIS_HEARTBEAT_SECONDS
        _watcher.watch(self)

    def finish(self) -> None:
        """Leave the watcher; returns once no tick of this beat is running."""
        with self._busy:
            _watcher.unwatch(self)
        _watcher.settle()

    @property
    def due(self) -> float:
        """When this beat's next tick is due (``time.monotonic()``)."""
        return self._next_tick

    def tick(self, moment: float) -> None:
        if moment < self._next_tick:
            return
        self._next_tick = moment + self.interval
        self.logger.flush()
        if self.deadline is not None and now() >= self.deadline and not self.reason:
            self.logger.error(f"Timeout after {self.timeout_text}: stopping the task")
            self._halt("timeout")
        if moment >= self._next_beat:
            self._next_beat = moment + settings.TRELLIS_HEARTBEAT_SECONDS
            self._beat()

    def _halt(self, reason: str) -> None:
        if not self.stop.is_set():
            self.reason = reason
            self.stop.set()

    def _beat(self) -> None:
        moment = now()
        lease = moment + timedelta(seconds=settings.TRELLIS_LEASE_SECONDS)
        kept = TaskRunAttempt.objects.filter(
            pk=self.attempt_id, state=State.RUNNING, owner=self.owner
        ).update(heartbeat_at=moment, lease_expires_at=lease)
        if not kept:
            self._halt("superseded")
        else:
            metrics.inc(metrics.WORKER_HEARTBEATS, host=self.owner.rsplit(":", 1)[0])
        state = Execution.objects.filter(pk=self.execution_id).values_list("state", flat=True)
        if state.first() in (State.KILLING, State.KILLED):
            self._halt("killed")


class _Watcher:
    """The process's one heartbeat thread and the beats it serves."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._beats: dict[int, Heartbeat] = {}
        self._thread: threading.Thread | None = None
        #: The thread has a database connection open (a tick used it).
        self._holds = False

    def watch(self, beat: Heartbeat) -> None:
        with self._changed:
            self._beats[id(beat)] = beat
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, daemon=True, name="heartbeat")
                self._thread.start()
            self._changed.notify_all()

    def unwatch(self, beat: Heartbeat) -> None:
        with self._changed:
            self._beats.pop(id(beat), None)
            self._changed.notify_all()

    def settle(self) -> None:
        """With no beat left, wait until the thread has closed its connection, as a thread
        per attempt did before its attempt returned (a test database must be droppable)."""
        with self._changed:
            self._changed.wait_for(lambda: self._beats or not self._holds, timeout=2.0)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._beats:
                    if self._holds:
                        connection.close()
                        self._holds = False
                        self._changed.notify_all()
                    self._changed.wait()
                # Until the next beat is due (to the tick, as a thread per attempt woke), or
                # until a beat comes or goes.
                due = min(b.due for b in self._beats.values())
                self._changed.wait(max(due - time.monotonic(), 0.0))
                beats = list(self._beats.values())
            for beat in beats:
                self._tick(beat)
            with self._changed:
                self._holds = connection.connection is not None

    def _tick(self, beat: Heartbeat) -> None:
        with beat._busy:
            if id(beat) not in self._beats:
                return  # finished meanwhile
            try:
                beat.tick(time.monotonic())
            except Exception:  # a lost database connection must not end the watcher
                log.exception("heartbeat of attempt %s failed", beat.attempt_id)
                connection.close()

    def after_fork(self) -> None:
        """A forked child starts with no beats and no thread (the parent's is not its)."""
        self._changed = threading.Condition()
        self._beats, self._thread, self._holds = {}, None, False


_watcher = _Watcher()
os.register_at_fork(after_in_child=_watcher.after_fork)
