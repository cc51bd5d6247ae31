"""The worker's own disk (``io.kestra.plugin.fs.local.*``), inside allowed folders only.

A flow author must not read or write whatever the worker process can (its configuration,
internal storage, other executions' files). So these tasks reach only the folders that
``TRELLIS_FS_ALLOWED_PATHS`` lists (``os.pathsep``-separated), the setting the local file
Trigger reads, and, unlike that trigger, refuse everything while it is unset: a task can
write and delete, a trigger only reads what its own flow names. Symbolic links are resolved
before the check, so a link inside an allowed folder cannot lead out of it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import Output, Prop, RunContext, TaskFailed
from plugins._shared.local_paths import allowed_roots, checked
from plugins.fs.family import family
from plugins.fs.remote import Entry
from plugins.fs.tasks import FsTask


class LocalBackend:
    """The local disk behind the allowed-folder check (every path, every call)."""

    def __init__(self, props: Mapping[str, Any]) -> None:
        checked_roots = allowed_roots()
        if not checked_roots:
            checked("/")  # raises the "disabled" refusal

    @staticmethod
    def _entry(path: Path) -> Entry:
        info = path.stat()
        return Entry(str(path), path.is_dir(), info.st_size, info.st_mtime)

    def list(self, path: str) -> list[Entry]:
        folder = checked(path)
        if not folder.is_dir():
            raise TaskFailed(f"{path}: no such folder")
        return [self._entry(folder / name) for name in os.listdir(folder)
                if not (folder / name).is_symlink()]  # fmt: skip

    def stat(self, path: str) -> Entry | None:
        target = checked(path)
        return self._entry(target) if target.exists() else None

    def download(self, path: str, target: Path) -> None:
        source = checked(path)
        if not source.is_file():
            raise FileNotFoundError(path)
        shutil.copyfile(source, target)

    def upload(self, source: Path, path: str) -> None:
        shutil.copyfile(source, checked(path))

    def delete(self, path: str) -> bool:
        target = checked(path)
        if not target.is_file():
            return False
        target.unlink()
        return True

    def rename(self, source: str, target: str) -> None:
        os.replace(checked(source), checked(target))

    def makedirs(self, path: str) -> None:
        checked(path).mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        return None


def connect(props: Mapping[str, Any]) -> LocalBackend:
    return LocalBackend(props)


class Copy(FsTask):
    """Copy a local file to another local path (both in allowed folders)."""

    type = "trellis.fs.local.Copy"
    aliases = ("io.kestra.plugin.fs.local.Copy",)
    properties: ClassVar = (
        Prop("from", "string", required=True),
        Prop("to", "string", required=True),
        Prop("overwrite", "boolean", default=False),
    )
    examples = (
        """id: fs_local_copy
namespace: company.team
tasks:
  - id: copy
    type: io.kestra.plugin.fs.local.Copy
    from: /data/in/report.csv
    to: /data/backup/report.csv
    overwrite: true
""",
    )

    outputs: ClassVar = (
        Output("from", "The copied file.", "string"),
        Output("to", "The copy.", "string"),
    )

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any]:
        source, target = checked(str(props["from"])), checked(str(props["to"]))
        if not source.is_file():
            raise TaskFailed(f"{source}: no such file")
        if target.is_dir():
            target = checked(str(target / source.name))
        if target.exists() and not props.get("overwrite"):
            raise TaskFailed(f"{target} exists and `overwrite` is false")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        return {"from": str(source), "to": str(target)}


PLUGINS = [
    *family(
        "local",
        connect,
        scheme="file",
        connection=(),
        kestra="io.kestra.plugin.fs.local",
        trigger=False,  # io.kestra.plugin.fs.local.Trigger is plugins/core/fs_trigger.py
    ),
    Copy,
]
