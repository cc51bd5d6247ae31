"""``io.kestra.plugin.fs.local.Trigger``: one execution per file that appears in a local folder.

Each poll lists the folder (``from``, optionally ``recursive``), keeps the files whose full
path matches ``regExp`` and whose name matches ``pattern``, oldest first, at most
``maxFiles``, and asks for one execution per file. Names starting with a dot are skipped (an
unfinished upload is usually a dotfile renamed into place once written).

How a file starts exactly one execution, even when two polls of the same trigger run at once
(a duplicated message, a slow poll overtaken by the next one):

* ``action: MOVE`` or ``DELETE``: the poll first *claims* the file by renaming it into the
  trigger's own folder ``<from>/.trellis-claims/<trigger>/<uuid>--<relative path>``. A rename
  within one file system is atomic, so of two polls renaming the same file one succeeds and
  the other finds nothing. The event key is the claim's uuid, which the database also keeps
  unique. Once the execution is committed the claimed file is moved to ``moveDirectory`` (its
  relative path kept) or deleted. A claim left behind by a poller that died (older than a
  minute) is picked up again by a later poll; the key makes sure it starts one execution.
* ``action: NONE`` (Kestra's default): files stay; the trigger remembers, between polls,
  each file's modification time and size and starts an execution for a file that is new or
  changed. The key includes that version, so a duplicated poll starts nothing more.

The execution sees ``trigger.file`` (``name``, ``path`` where it was found, ``localPath``
where it is after the action, ``size``, ``updatedDate``, ``uri`` of a copy in internal
storage) and ``trigger.files`` (a list holding that file, the shape Kestra's batch triggers
give). The copy in internal storage is the dependable way to read the content: the original
moves or disappears right after the execution is created. The trigger's ``inputs`` are
rendered before that copy exists, so they see every ``trigger.file`` field but ``uri``.
"""

from __future__ import annotations

import contextlib
import fnmatch
import hashlib
import os
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote, unquote

from kernel.expressions.limits import regex_fullmatch
from kernel.plugin import Output, PollContext, PollEvent, PollingTrigger, Prop, StoreFile
from plugins._shared.local_paths import ALLOWED_ENV, allowed_roots

ACTIONS = ("NONE", "MOVE", "DELETE")
CLAIM_DIR = ".trellis-claims"
_SEP = "--"
#: A claim older than this whose poller did not finish is taken over by a later poll.
ORPHAN_SECONDS = 60.0


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def _allowed(path: Path) -> bool:
    """In a folder of ``TRELLIS_FS_ALLOWED_PATHS``; unset or empty means anywhere."""
    roots = allowed_roots()
    if not roots:
        return True
    resolved = path.resolve()
    return any(resolved == root or root in resolved.parents for root in roots)


def _folder(value: Any, name: str) -> Path:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"`{name}` must be a folder path")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"`{name}` must be an absolute path, got {value!r}")
    if not _allowed(path):
        raise PermissionError(f"`{name}` {value!r} is outside {ALLOWED_ENV}")
    return path


def _iso(timestamp: float) -> str:
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class LocalFileTrigger(PollingTrigger):
    """Start one execution per file found in a local folder (see the module docstring for
    why each file starts exactly one, even when polls overlap).

    ``action`` says what happens to a file once its execution exists: MOVE it to
    ``moveDirectory``, DELETE it, or NONE (leave it; a changed file starts again). Read the
    content from ``trigger.file.uri`` (a copy in internal storage).
    """

    type = "trellis.core.fs.local.Trigger"
    aliases = ("io.kestra.plugin.fs.local.Trigger",)
    recorded_type = "io.kestra.plugin.fs.local.Trigger"
    default_interval = "PT60S"
    properties: ClassVar = (
        Prop("from", "string", required=True, description="The folder to watch (absolute)."),
        Prop("regExp", "string", description="Only files whose full path matches this regex."),
        Prop("pattern", "string", description="Only files whose name matches this glob."),
        Prop("recursive", "boolean", default=False, description="Look into sub-folders too."),
        Prop("action", "string", default="NONE", choices=ACTIONS),
        Prop("moveDirectory", "string", description="Where MOVE puts files (absolute)."),
        Prop("maxFiles", "integer", default=25, description="Files handled per poll, at most."),
        Prop("interval", "duration", default="PT60S", dynamic=False),
        *PollingTrigger.shared_properties,
    )
    examples = (
        """id: on-new-csv
namespace: trellis.examples
tasks:
  - id: hello
    type: trellis.core.log.Log
    message: "{{ trigger.file.name }} ({{ trigger.file.size }} bytes) at {{ trigger.file.uri }}"
triggers:
  - id: inbox
    type: io.kestra.plugin.fs.local.Trigger
    from: /data/inbox
    pattern: "*.csv"
    action: MOVE
    moveDirectory: /data/done
    interval: PT10S
""",
    )

    outputs: ClassVar = (
        Output(
            "file",
            "The file found: name, path, localPath, size, updatedDate and uri (its copy in internal storage).",
            "map",
        ),
        Output("files", "The same file as a one-item list (Kestra's shape).", "list"),
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems: list[tuple[str, str]] = []
        for name in ("from", "moveDirectory"):
            value = props.get(name)
            if isinstance(value, str) and not _templated(value) and not os.path.isabs(value):
                problems.append((name, f"`{name}` must be an absolute path, got {value!r}"))
        if props.get("action") == "MOVE" and not props.get("moveDirectory"):
            problems.append(("moveDirectory", "`action: MOVE` needs a `moveDirectory`"))
        regexp = props.get("regExp")
        if isinstance(regexp, str) and not _templated(regexp):
            try:
                re.compile(regexp)
            except re.error as exc:
                problems.append(("regExp", f"invalid regular expression {regexp!r}: {exc}"))
        limit = props.get("maxFiles")
        if isinstance(limit, int) and limit < 1:
            problems.append(("maxFiles", "`maxFiles` must be at least 1"))
        return problems

    def evaluate(self, props: dict[str, Any], ctx: PollContext) -> list[PollEvent]:
        root = _folder(props.get("from"), "from")
        if not root.is_dir():
            raise FileNotFoundError(f"`from` {root} is not a folder")
        action = str(props.get("action") or "NONE").upper()
        if action not in ACTIONS:
            raise ValueError(f"`action` must be one of {', '.join(ACTIONS)}, got {action!r}")
        move_to = None
        if action == "MOVE":
            move_to = _folder(props.get("moveDirectory"), "moveDirectory")
        limit = max(1, int(props.get("maxFiles") or 25))
        regexp = str(props["regExp"]) if props.get("regExp") else None
        pattern = str(props["pattern"]) if props.get("pattern") else None

        def wanted(path: Path) -> bool:
            # In the regex engine with a timeout: a catastrophic pattern must not pin the
            # poller (issue 21).
            if regexp is not None and not regex_fullmatch(regexp, str(path), timeout=1.0):
                return False
            return pattern is None or fnmatch.fnmatchcase(path.name, pattern)

        skip = {move_to.resolve()} if move_to is not None else set()
        found = _listing(root, recursive=props.get("recursive") is True, skip=skip)
        files = [(path, stat) for path, stat in found if wanted(path)]
        files.sort(key=lambda item: (item[1].st_mtime_ns, str(item[0])))
        if action == "NONE":
            return _unseen_events(root, files, limit, ctx)
        claims = root / CLAIM_DIR / _scope(ctx)
        claims.mkdir(parents=True, exist_ok=True)
        events: list[PollEvent] = []
        for orphan in _orphans(claims):
            event = _claim_event(orphan, root, move_to)
            if event is not None:
                events.append(event)
        for path, _stat in files:
            if len(events) >= limit:
                break
            relative = path.relative_to(root).as_posix()
            claim = claims / f"{uuid.uuid4().hex}{_SEP}{_encode(relative)}"
            try:
                os.rename(path, claim)  # the claim: atomic, so only one poll gets the file
            except FileNotFoundError:
                continue  # another poll claimed it first
            event = _claim_event(claim, root, move_to)
            if event is not None:
                events.append(event)
        return events


def _scope(ctx: PollContext) -> str:
    """The claim folder of one trigger (two flows may watch one folder)."""
    name = f"{ctx.namespace}/{ctx.flow_id}/{ctx.trigger_id}"
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def _encode(relative: str) -> str:
    encoded = quote(relative, safe="")
    return encoded if len(encoded) <= 200 else encoded[-200:]


def _listing(
    root: Path, *, recursive: bool, skip: set[Path]
) -> Iterator[tuple[Path, os.stat_result]]:
    """Regular files under ``root`` (not in dot-folders, the claims or ``skip``)."""
    folders = [root]
    while folders:
        folder = folders.pop()
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and Path(entry.path).resolve() not in skip:
                        folders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield Path(entry.path), entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # gone meanwhile (claimed by another poll)


def _orphans(claims: Path) -> list[Path]:
    """Claims older than ORPHAN_SECONDS: their poller did not finish (crashed, failed)."""
    limit = time.time() - ORPHAN_SECONDS
    found = []
    for entry in sorted(claims.iterdir()):
        try:
            if entry.is_file() and entry.stat().st_ctime < limit:
                found.append(entry)
        except FileNotFoundError:
            continue
    return found


def _describe(found_at: Path, stat: os.stat_result, local_path: Path | None) -> dict[str, Any]:
    return {
        "name": found_at.name,
        "path": str(found_at),
        "localPath": str(local_path) if local_path is not None else None,
        "size": stat.st_size,
        "updatedDate": _iso(stat.st_mtime),
    }


def _with_uri(description: dict[str, Any], source: Path, store: StoreFile) -> dict[str, Any]:
    described = {**description, "uri": store(source, description["name"])}
    return {"file": described, "files": [described]}


def _claim_event(claim: Path, root: Path, move_to: Path | None) -> PollEvent | None:
    """The event of one claimed file (None if another poll finished it meanwhile)."""
    token, _, encoded = claim.name.partition(_SEP)
    relative = unquote(encoded) or claim.name
    original = root / relative
    final = move_to / relative if move_to is not None else None
    try:
        description = _describe(original, claim.stat(), final)
    except FileNotFoundError:
        return None

    def done() -> None:
        if final is not None:
            final.parent.mkdir(parents=True, exist_ok=True)
            # FileNotFoundError: the other poll that saw this event moved it already.
            with contextlib.suppress(FileNotFoundError):
                os.replace(claim, final)
        else:
            claim.unlink(missing_ok=True)

    def decline() -> None:
        """Put the file back where it was found (unless a new one took its place)."""
        try:
            os.link(claim, original)
        except (FileExistsError, FileNotFoundError):
            return
        claim.unlink(missing_ok=True)

    return PollEvent(
        key=f"claim:{token}",
        variables={"file": description, "files": [description]},
        attach=lambda store: _with_uri(description, claim, store),
        done=done,
        decline=decline,
    )


def _unseen_events(
    root: Path, files: list[tuple[Path, os.stat_result]], limit: int, ctx: PollContext
) -> list[PollEvent]:
    """``action: NONE``: files new or changed since they last started an execution."""
    seen: dict[str, str] = dict(ctx.state.get("seen") or {})
    present = {
        path.relative_to(root).as_posix(): (path, stat, f"{stat.st_mtime_ns}:{stat.st_size}")
        for path, stat in files
    }
    # Forget files that are gone or changed, so the state stays as large as the folder.
    ctx.state["seen"] = {
        rel: v for rel, v in seen.items() if rel in present and present[rel][2] == v
    }
    events: list[PollEvent] = []
    for relative, (path, stat, version) in present.items():
        if len(events) >= limit:
            break
        if seen.get(relative) == version:
            continue
        description = _describe(path, stat, path)

        def done(relative: str = relative, version: str = version) -> None:
            ctx.state.setdefault("seen", {})[relative] = version

        events.append(
            PollEvent(
                key=f"seen:{relative}:{version}",
                variables={"file": description, "files": [description]},
                attach=lambda store, d=description, p=path: _with_uri(d, p, store),
                done=done,
            )
        )
    return events


PLUGINS = [LocalFileTrigger]
