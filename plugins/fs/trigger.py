"""The polling Trigger of the remote protocols (SFTP, FTP): one execution per poll that finds
files."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from kernel.plugin import (
    Output,
    PollContext,
    PollEvent,
    PollingTrigger,
    StoreFile,
)
from plugins.fs.remote import Entry
from plugins.fs.tasks import Connector, apply_action, check_action, check_regexp, listing


class RemoteTrigger(PollingTrigger):
    """Start one execution per poll that finds files (``trigger.files``, each with ``path``
    and ``uri`` naming its copy in internal storage, ``remotePath`` where it was found). With ``action: NONE`` a file starts again only once it
    changed (size or time); MOVE and DELETE act once the execution is committed."""

    scheme: ClassVar[str] = "sftp"
    connect: ClassVar[Connector]
    default_interval = "PT60S"
    #: Shown as ``******`` to users who may not write the flow (flows/confidential.py).
    confidential: ClassVar = ("password", "keyfile", "passphrase")

    outputs: ClassVar = (
        Output(
            "files",
            "One entry per file found: name, path, size, fileType, updatedDate, remotePath and uri (its copy in internal storage).",
            "list",
        ),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        return check_regexp(props) + check_action(props)

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        connect = type(self).connect
        backend = connect(props)
        try:
            entries = listing(backend, props)
        finally:
            backend.close()
        action = str(props.get("action") or "NONE").upper()
        seen: dict[str, str] = dict(ctx.state.get("seen") or {})
        versions = {e.path: f"{e.size}:{e.mtime}" for e in entries}
        if action == "NONE":
            # Forget files that are gone or changed, so the state stays as large as the folder.
            ctx.state["seen"] = {p: v for p, v in seen.items() if versions.get(p) == v}
            entries = [e for e in entries if seen.get(e.path) != versions[e.path]]
        entries = entries[: int(props.get("maxFiles") or 25)]
        if not entries:
            return []
        key = hashlib.sha256(
            "\n".join(f"{e.path}:{versions[e.path]}" for e in entries).encode()
        ).hexdigest()
        scheme = self.scheme

        def describe(entry: Entry, uri: str | None = None) -> dict[str, Any]:
            where = f"{props.get('host')}:{props.get('port')}" if props.get("port") else ""
            shown = f"{scheme}://{where or props.get('host')}/{entry.path.lstrip('/')}"
            described = {**entry.describe(uri or shown), "remotePath": shown}
            return {**described, "uri": uri} if uri else described

        def attach(store: StoreFile) -> Mapping[str, Any]:
            described = []
            with tempfile.TemporaryDirectory(prefix="trellis-fs-") as folder:
                opened = connect(props)
                try:
                    for index, entry in enumerate(entries):
                        local = Path(folder) / str(index)
                        opened.download(entry.path, local)
                        described.append(describe(entry, store(local, entry.name)))
                finally:
                    opened.close()
            return {"files": described}

        def done() -> None:
            if action == "NONE":
                for entry in entries:
                    ctx.state.setdefault("seen", {})[entry.path] = versions[entry.path]
                return
            opened = connect(props)
            try:
                apply_action(opened, props, [e for e in entries if opened.stat(e.path)])
            finally:
                opened.close()

        return [
            PollEvent(
                key=f"files:{key}",
                variables={"files": [describe(e) for e in entries]},
                attach=attach,
                done=done,
            )
        ]
