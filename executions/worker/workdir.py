"""The folder a WorkingDirectory's children share, carried between them through internal
storage (the decision is in docs/architecture.md, "WorkingDirectory").

A child of a WorkingDirectory run gets a :class:`SharedFolder` in its run context. When the
child first touches its working directory, the folder is restored from the block's archive
(``tasks/<block>/<block run>/workdir.tar.gz``), or, for the first child, made from the
block's ``namespaceFiles`` and ``inputFiles``. A child that ends SUCCESS or WARNING saves the
folder back and, when the block declares ``outputFiles``, stores the matching files; a child
that fails, is killed or dies saves nothing, so its retry starts from what the previous child
left. Children run one after the other, so no two writers share an archive.
"""

from __future__ import annotations

import tarfile
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from kernel.engine.planner import all_tasks
from kernel.plugin import TaskFailed
from orchestrator.storage import default_storage
from plugins.core.flow.working_directory import SAVED, TYPE
from plugins.scripts.files import (
    as_lines,
    copy_namespace_files,
    store_output_files,
    write_input_files,
)

ARCHIVE = "workdir.tar.gz"


def max_bytes() -> int:
    return int(getattr(settings, "TRELLIS_WORKDIR_MAX_BYTES", 1024**3))


@dataclass(frozen=True)
class SharedFolder:
    """The block a task run belongs to: its archive's URI and its (unrendered) properties."""

    archive_uri: str
    block: Mapping[str, Any]

    def restore(self, ctx: Any, folder: Path) -> None:
        """Fill the fresh ``folder`` (``ctx.working_dir``) with what the block holds so far."""

        storage = default_storage()
        if storage.exists(self.archive_uri):
            with (
                storage.open(self.archive_uri) as stream,
                tarfile.open(fileobj=stream, mode="r:gz") as archive,
            ):
                archive.extractall(folder, filter="data")
            return
        rendered = ctx.render(
            {k: self.block.get(k) for k in ("namespaceFiles", "inputFiles") if self.block.get(k)}
        )
        copy_namespace_files(ctx, rendered.get("namespaceFiles"))
        write_input_files(ctx, rendered.get("inputFiles"))

    def save(self, ctx: Any, folder: Path) -> dict[str, Any]:
        """Archive ``folder`` for the next child; returns what to add to this run's outputs."""

        limit = max_bytes()
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        if size > limit:
            raise TaskFailed(
                f"the WorkingDirectory folder holds {size} bytes, more than "
                f"TRELLIS_WORKDIR_MAX_BYTES ({limit}); keep large files in internal storage"
            )
        with tempfile.NamedTemporaryFile(suffix=".tar.gz") as packed:
            with tarfile.open(fileobj=packed, mode="w:gz") as archive:
                for path in sorted(folder.iterdir()):
                    archive.add(path, arcname=path.name)
            packed.flush()
            packed.seek(0)
            default_storage().put(self.archive_uri, packed)
        saved: dict[str, Any] = {"bytes": size}
        patterns = as_lines(self.block.get("outputFiles"))
        if patterns:
            saved["outputFiles"] = store_output_files(ctx, patterns)
        return {SAVED: saved}


def shared_folder(spec: Any, task: Any, run: Any, execution: Any) -> SharedFolder | None:
    """The SharedFolder of ``run`` when its task sits directly in a WorkingDirectory."""
    if not run.parent_id:
        return None

    block = next(
        (
            t
            for t in all_tasks(spec)
            if t.type == TYPE and any(c.id == task.id for c in t.children.get("tasks", ()))
        ),
        None,
    )
    if block is None:
        return None
    uri = default_storage().task_file_uri(
        execution.namespace, execution.flow_id, execution.id, block.id, run.parent_id, ARCHIVE
    )
    return SharedFolder(uri, block.properties)
