"""A RunContext stand-in for plugin unit tests: no database, no Celery, files under tmp_path."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def allow_loopback(settings: Any) -> None:
    """Open the outbound guard to 127.0.0.1 (pytest-django's ``settings``): the plugin tests'
    own servers listen there, which the guard refuses by default."""
    settings.TRELLIS_HTTP_ALLOW = "127.0.0.1"
    settings.TRELLIS_HTTP_DENY = ""
    settings.TRELLIS_HTTP_ALLOW_ONLY = False


class FakeLogger:
    """Keeps every record as ``(level, message)`` so tests can assert on them."""

    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def _add(self, level: str, msg: str) -> None:
        self.records.append((level, msg))

    def debug(self, msg: str) -> None:
        self._add("DEBUG", msg)

    def info(self, msg: str) -> None:
        self._add("INFO", msg)

    def warning(self, msg: str) -> None:
        self._add("WARNING", msg)

    def error(self, msg: str) -> None:
        self._add("ERROR", msg)

    def trace(self, msg: str) -> None:
        self._add("TRACE", msg)

    def lines(self, level: str | None = None) -> list[str]:
        return [m for lvl, m in self.records if level is None or lvl == level]


class PollContext:
    """What a polling trigger's ``evaluate`` gets in plugin unit tests: the ids naming the
    trigger, a logger keeping records, the trigger's state and rendering that changes
    nothing."""

    def __init__(
        self,
        namespace: str = "t",
        flow_id: str = "f",
        trigger_id: str = "watch",
        poll_id: str = "p1",
    ) -> None:
        self.namespace, self.flow_id, self.trigger_id = namespace, flow_id, trigger_id
        self.poll_id = poll_id
        self.logger = FakeLogger()
        self.state: dict[str, Any] = {}

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return value


class FakeContext:
    """Satisfies ``kernel.plugin.RunContext``; ``stop`` can be set from another thread."""

    execution_id = "exec1"
    task_run_id = "run1"
    attempt = 1
    namespace = "test"
    flow_id = "flow"

    def __init__(self, root: Path, *, secrets: Sequence[str] = ()) -> None:
        self.working_dir = root / "work"
        self.working_dir.mkdir(parents=True, exist_ok=True)
        self.storage = root / "storage"
        self.storage.mkdir(parents=True, exist_ok=True)
        self.logger = FakeLogger()
        self.secrets = list(secrets)
        self.stop = False

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return value

    def put_file(self, local_path: Path, name: str | None = None) -> str:
        name = name or local_path.name
        target = self.storage / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(local_path, target)
        return "kestra:///test/" + name

    def open_uri(self, uri: str) -> Path:
        prefix = "kestra:///test/"
        if not uri.startswith(prefix):
            raise FileNotFoundError(uri)
        return self.storage / uri[len(prefix) :]

    def should_stop(self) -> bool:
        return self.stop

    def secret_values(self) -> Sequence[str]:
        return self.secrets
