"""The ``jq`` filter, run in helper processes with hard limits (issue 21).

jq is C code that holds the GIL: ``def f: f; f`` spun for minutes in the worker, starving its
heartbeat thread until the lease expired, and ``[range(1e8)]`` aborted the whole worker
(jq calls ``abort()`` when ``malloc`` fails). So a program runs in a helper process
(``kernel.expressions.jq_child``) whose address space is capped by ``RLIMIT_AS``; this side waits
on the helper's pipe (without the GIL) at most the render's remaining budget, then kills it.
A killed or crashed helper is replaced by a new one on the next call.

Helpers are kept per process (a few idle ones, reused; starting one costs ~40 ms) and
never crossed over a ``fork``: a helper belongs to the process that started it.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
from typing import Any

from kernel.expressions.limits import remaining
from kernel.expressions.state import MAX_OUTPUT, ExpressionError, LimitExceeded, current_state

#: Address-space cap of a jq helper, bytes (``TRELLIS_JQ_MEMORY_MB``, default 512).
MEMORY_LIMIT = int(os.environ.get("TRELLIS_JQ_MEMORY_MB", "512")) * 1024 * 1024
#: The interpreter that runs a helper (``TRELLIS_JQ_PYTHON``): this one by default, which is
#: wrong only under a server that embeds Python (uWSGI's ``sys.executable`` is uwsgi).
PYTHON = os.environ.get("TRELLIS_JQ_PYTHON") or sys.executable
#: Idle helpers kept per process.
MAX_IDLE = 4
#: Largest answer read back (bytes of JSON).
MAX_ANSWER = 4 * MAX_OUTPUT


class _Helper:
    def __init__(self) -> None:
        self.pid = os.getpid()
        try:
            self.process = subprocess.Popen(
                [PYTHON, "-I", "-m", "kernel.expressions.jq_child", str(MEMORY_LIMIT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                close_fds=True,
            )
        except OSError as exc:
            raise ExpressionError(f"jq is unavailable: its helper did not start ({exc})") from exc

    def ask(self, request: bytes, deadline: float) -> bytes | None:
        """The answer line, or None when the helper died; raises TimeoutError at
        ``deadline`` (the helper is then useless: the caller kills it)."""
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        try:
            self.process.stdin.write(request)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            return None
        fd = self.process.stdout.fileno()
        chunks: list[bytes] = []
        size = 0
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                raise TimeoutError
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return None
            chunks.append(chunk)
            size += len(chunk)
            if chunk.endswith(b"\n"):
                return b"".join(chunks)
            if size > MAX_ANSWER:
                raise LimitExceeded(f"jq produced more than {MAX_ANSWER} bytes")

    def kill(self) -> None:
        try:
            self.process.kill()
            self.process.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


_idle: list[_Helper] = []
_lock = threading.Lock()


def _take() -> _Helper:
    with _lock:
        while _idle:
            helper = _idle.pop()
            if helper.pid == os.getpid() and helper.process.poll() is None:
                return helper
    return _Helper()


def _give_back(helper: _Helper) -> None:
    with _lock:
        if len(_idle) < MAX_IDLE and helper.pid == os.getpid():
            _idle.append(helper)
            return
    helper.kill()


def run_jq(program: str, data_json: str) -> list[Any]:
    """All results of jq ``program`` over the JSON text ``data_json``, within the render's
    remaining budget and the helper's memory cap."""
    request = json.dumps({"program": program, "input": data_json}, ensure_ascii=False)
    deadline = time.monotonic() + remaining()
    shown = program if len(program) <= 100 else program[:97] + "..."
    helper = _take()
    try:
        answer = helper.ask(request.encode() + b"\n", deadline)
    except TimeoutError:
        helper.kill()
        state = current_state()
        why = state.timeout_message if state is not None else "time limit exceeded"
        raise LimitExceeded(f"jq '{shown}' was stopped: {why}") from None
    except BaseException:
        helper.kill()
        raise
    if answer is None:
        helper.kill()
        raise LimitExceeded(
            f"jq '{shown}' was stopped: it ran out of memory (limit "
            f"{MEMORY_LIMIT // (1024 * 1024)} MB) or crashed"
        )
    _give_back(helper)
    reply = json.loads(answer)
    if "error" in reply:
        raise ExpressionError(str(reply["error"]))
    return list(reply["ok"])
