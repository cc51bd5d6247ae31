"""Small JSON endpoints the execution page polls: log lines in pages, and the state.

Log pages are keyed by line id, never by offset, so the browser asks "after the last line I
have" (live tail) or "before the first line I have" (older page) and each request reads one
index range, whatever the size of the log. The page opens at the end of the log and keeps a
bounded number of lines in the DOM; 100,000 lines are never sent at once.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse

from executions.log_levels import levels_from
from executions.models import Execution, LogEntry
from executions.selectors import execution_stamp
from kernel.states import TERMINAL

PAGE = 500
MAX_MESSAGE = 10_000


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None


def _line(entry: LogEntry) -> dict[str, Any]:
    message = entry.message
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"… ({len(entry.message)} characters)"
    return {
        "id": entry.id,
        "ts": entry.timestamp.isoformat(timespec="milliseconds"),
        "level": entry.level,
        "task": entry.task_id,
        "taskRun": entry.task_run_id,
        "attempt": entry.attempt,
        "message": message,
    }


def logs_json(request: HttpRequest, execution: Execution) -> JsonResponse:
    """``?level=INFO&after=ID`` (new lines), ``?before=ID`` (an older page) or neither (the
    last page). ``done`` tells the page to stop polling: the execution has ended and the
    page holds the newest line."""
    state = Execution.objects.filter(pk=execution.pk).values_list("state", flat=True).first()
    lines = LogEntry.objects.filter(execution_id=execution.pk)
    if (levels := levels_from(request.GET.get("level"))) is not None:
        lines = lines.filter(level__in=levels)
    if task_run := request.GET.get("taskRun"):
        lines = lines.filter(task_run_id=task_run)
    after, before = _int(request.GET.get("after")), _int(request.GET.get("before"))
    if after is not None:
        page = list(lines.filter(id__gt=after).order_by("id")[:PAGE])
        more_after = len(page) == PAGE
    else:
        older = lines.filter(id__lt=before) if before is not None else lines
        page = list(older.order_by("-id")[:PAGE])[::-1]
        more_after = False
    more_before = bool(page) and lines.filter(id__lt=page[0].id).exists()
    return JsonResponse(
        {
            "lines": [_line(entry) for entry in page],
            "moreBefore": more_before,
            "moreAfter": more_after,
            "state": state,
            "done": (state is None or state in TERMINAL) and not more_after,
        }
    )


def state_stamp(execution_id: str) -> str:
    """A value that moves whenever the execution page would look different
    (:func:`executions.selectors.execution_stamp`: the executor's ``version`` and the
    workers' marks on the attempts). Read it before what it stamps: a change in between
    then shows on the next poll instead of never."""
    found = execution_stamp(execution_id)
    return "gone" if found is None else "{}:{}".format(*found[0])


def state_json(request: HttpRequest, execution: Execution) -> JsonResponse:
    """The execution's state and stamp; the page refreshes its panels when the stamp moves."""
    return JsonResponse(
        {
            "state": execution.state,
            "stamp": state_stamp(execution.pk),
            "terminal": execution.state in TERMINAL,
        }
    )
