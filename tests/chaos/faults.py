"""A test-only Celery bootstrap: the production app, with faults a chaos test switches on.

Processes started as ``celery -A tests.chaos.faults ...`` (see ``ChaosFleet``) run exactly
the production code; this module only wraps two seams, and only while the JSON file named by
``TRELLIS_CHAOS_CONTROL`` asks for it (the test rewrites that file to turn faults on and off
without restarting anything; no file, no fault):

* ``duplicate``: every message sent (``app.send_task``) goes out twice, each copy after its
  own random delay up to ``max_delay`` seconds, so wake-ups arrive doubled and out of order.
* ``commit``: ``executions.runtime.advance.advance_execution`` (one executor hop, one transaction) is
  wrapped in an outer transaction that fails in one of four ways, each with its own
  probability and budget (the budget is shared by all processes through marker files):
  ``kill-before-commit`` (the process group dies with the plan written but not committed),
  ``kill-after-commit`` (committed, dies before any message goes out), ``error-after-commit``
  (committed, but the caller sees a database error and no message goes out: a commit whose
  acknowledgement was lost) and ``error-before-commit`` (rolled back with an error).

Two static knobs are read once at start: ``TRELLIS_CHAOS_VISIBILITY_TIMEOUT`` (Redis's
visibility timeout, seconds) and ``TRELLIS_CHAOS_SETTINGS`` (JSON of Django settings to
override, e.g. ``TRELLIS_SCHEDULE_GRACE_SECONDS``).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from orchestrator.celery import app

COMMIT_FAULTS = ("kill-before-commit", "kill-after-commit", "error-after-commit",
                 "error-before-commit")  # fmt: skip
_rng = random.Random()


class Control:
    """The fault switchboard: the control file, re-read when it changes."""

    def __init__(self, path: str | None) -> None:
        self.path = Path(path) if path else None
        self._stamp: float | None = None
        self._data: dict[str, Any] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        if self.path is None:
            return None
        try:
            stamp = self.path.stat().st_mtime_ns
        except OSError:
            return None
        if stamp != self._stamp:
            # A file caught mid-rewrite keeps the previous switches (the test renames it
            # into place, so this is only a safety net).
            with contextlib.suppress(ValueError):
                self._data, self._stamp = json.loads(self.path.read_text() or "{}"), stamp
        return self._data.get(key)

    def take(self, kind: str, budget: int) -> bool:
        """Claim one of ``budget`` uses of fault ``kind`` (across processes: a marker file
        created exclusively per use)."""
        assert self.path is not None
        for n in range(budget):
            try:
                fd = os.open(self.path.parent / f"{kind}.{n}", os.O_CREAT | os.O_EXCL)
            except FileExistsError:
                continue
            os.close(fd)
            return True
        return False


def install_duplicates(target: Any, control: Control) -> None:
    """Wrap ``target.send_task`` so that, while ``duplicate`` is on, each message is sent
    twice with independent random delays (same task id, as a broker redelivery has)."""
    send = target.send_task

    def send_twice(name: str, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        switch = control.get("duplicate")
        if not switch:
            return send(name, args, kwargs, **options)
        from kombu.utils.uuid import uuid

        options.setdefault("task_id", None)
        options["task_id"] = options["task_id"] or uuid()
        max_delay = float(switch.get("max_delay", 0.5))
        result = None
        for _ in range(2):
            delay = _rng.choice((0.0, _rng.uniform(0, max_delay)))
            if delay == 0.0 and result is None:
                result = send(name, args, kwargs, **options)
            else:
                timer = threading.Timer(delay, send, (name, args, kwargs), dict(options))
                timer.daemon = True
                timer.start()
        return result if result is not None else target.AsyncResult(options["task_id"])

    target.send_task = send_twice


def install_commit_faults(control: Control) -> None:
    from django.db import OperationalError, transaction

    from executions.runtime import advance as runtime

    advance = runtime.advance_execution

    def die() -> None:
        os.killpg(os.getpgrp(), signal.SIGKILL)

    def lost_ack() -> None:
        raise OperationalError("injected fault: the commit succeeded, its acknowledgement was lost")

    def faulty_advance(execution_id: str) -> Any:
        switch = control.get("commit") or {}
        kind = next(
            (k for k in COMMIT_FAULTS if k in switch and _rng.random() < switch[k]["rate"]), None
        )
        if kind is None or not control.take(kind, int(switch[kind].get("budget", 1))):
            return advance(execution_id)
        with transaction.atomic():
            # Registered first, so they run before the hop's own on-commit sends.
            if kind == "kill-after-commit":
                transaction.on_commit(die)
            elif kind == "error-after-commit":
                transaction.on_commit(lost_ack)
            result = advance(execution_id)
            if kind == "kill-before-commit":
                die()
            elif kind == "error-before-commit":
                raise OperationalError("injected fault: the connection broke before the commit")
        return result

    runtime.advance_execution = faulty_advance


def _static_knobs() -> None:
    timeout = os.environ.get("TRELLIS_CHAOS_VISIBILITY_TIMEOUT")
    if timeout:
        options = dict(app.conf.broker_transport_options or {})
        options["visibility_timeout"] = float(timeout)
        # kombu looks for overdue messages every interval x throttle seconds (100 s by
        # default); every second here, so a short timeout shows within a test.
        options.update(unacked_restore_interval=1, unacked_restore_throttle=1)
        app.conf.broker_transport_options = options
    overrides = os.environ.get("TRELLIS_CHAOS_SETTINGS")
    if overrides:
        from django.conf import settings

        for key, value in json.loads(overrides).items():
            setattr(settings, key, value)


def _on_worker_ready(install: Callable[[], None]) -> None:
    from celery.signals import worker_process_init, worker_ready

    worker_process_init.connect(lambda **_: install(), weak=False)  # prefork children
    worker_ready.connect(lambda **_: install(), weak=False)  # the main process (solo pools)


_control = Control(os.environ.get("TRELLIS_CHAOS_CONTROL"))
_installed: list[bool] = []


def _install_runtime_faults() -> None:
    if not _installed:
        _installed.append(True)
        install_commit_faults(_control)


if _control.path is not None:  # a chaos process; importing this module elsewhere changes nothing
    _static_knobs()
    install_duplicates(app, _control)
    _on_worker_ready(_install_runtime_faults)
