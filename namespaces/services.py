"""Namespace files: upload, list, read, move and delete the files a namespace holds.

Flows read them with ``read('path')`` and script tasks get them in their working directory
with ``namespaceFiles: {enabled: true}``. Content goes to internal storage first, then the
index row is written in a transaction; a delete removes the rows and, once committed, the
content. Every path is normalised by :mod:`namespaces.paths`, which refuses ``..``.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.db import transaction

from access.policy import check
from flows.archives import ArchiveError, open_checked
from flows.services.common import namespace_ensure
from kernel.spec.common import NAMESPACE, NAMESPACE_MAX
from kernel.storage import StorageError
from namespaces import paths
from namespaces.models import NamespaceFile
from namespaces.paths import ROOT, PathRefused
from orchestrator.storage import default_storage

_CHUNK = 1024 * 1024
#: A zip upload may hold at most this many files (Kestra's zip-bomb guard does the same).
MAX_ZIP_ENTRIES = 10_000


class NamespaceFileError(ValueError):
    """Bad input: an invalid namespace or path, a file where a folder is needed, too big."""


class NamespaceFileNotFound(LookupError):
    """No such file or folder in the namespace; the message says which."""


def _namespace(name: str, actor: Any = None, action: str = "read") -> str:
    """The namespace, checked, once ``actor`` may ``action`` in it (None: a trusted caller,
    the CLI or a running execution reading its own namespace's files)."""

    text = str(name or "").strip()
    if not NAMESPACE.fullmatch(text) or len(text) > NAMESPACE_MAX or ".." in text:
        raise NamespaceFileError(f"invalid namespace {name!r}")
    check(actor, text, action)
    return text


def _path(path: str, *, allow_root: bool = False) -> str:
    try:
        return paths.normalize(path, allow_root=allow_root)
    except PathRefused as exc:
        raise NamespaceFileError(str(exc)) from None


def _storage() -> Any:
    return default_storage()


def storage_uri(namespace: str, path: str) -> str:
    """Where a namespace file's content lives: ``kestra:///a/b/_files/scripts/etl.py``."""
    ns, normal = _namespace(namespace), _path(path)
    return _storage().namespace_files_prefix(ns) + paths.storage_suffix(normal)


# ----------------------------------------------------------------------------- reads


def nsfile_get(namespace: str, path: str, *, actor: Any = None) -> NamespaceFile:
    """The file or folder at ``path`` (the root is a folder that always exists)."""
    ns, normal = _namespace(namespace, actor), _path(path, allow_root=True)
    if normal == ROOT:
        return NamespaceFile(namespace=ns, path=ROOT, parent=ROOT, is_directory=True)
    row = NamespaceFile.objects.filter(namespace=ns, path=normal).first()
    if row is None:
        raise NamespaceFileNotFound(f"no file or folder {normal} in namespace {ns}")
    return row


def nsfile_list(
    namespace: str, path: str = ROOT, *, recursive: bool = False, actor: Any = None
) -> list[NamespaceFile]:
    """What a folder holds (folders and files, by path); ``recursive`` walks every level."""
    folder = nsfile_get(namespace, path, actor=actor)
    if not folder.is_directory:
        raise NamespaceFileError(f"{folder.path} is a file, not a folder")
    rows = NamespaceFile.objects.filter(namespace=folder.namespace)
    if recursive:
        if folder.path != ROOT:
            rows = rows.filter(path__startswith=folder.path + "/")
    else:
        rows = rows.filter(parent=folder.path)
    return list(rows.order_by("path"))


def nsfile_open(namespace: str, path: str, *, actor: Any = None) -> BinaryIO:
    """The file's content, opened for reading (the caller closes it)."""
    row = nsfile_get(namespace, path, actor=actor)
    if row.is_directory:
        raise NamespaceFileError(f"{row.path} is a folder, not a file")

    try:
        return _storage().open(storage_uri(row.namespace, row.path))
    except StorageError:
        raise NamespaceFileNotFound(
            f"the content of {row.path} in namespace {row.namespace} is missing from storage"
        ) from None


def nsfile_read(
    namespace: str, path: str, *, max_bytes: int | None = None, actor: Any = None
) -> bytes:
    """The whole content; NamespaceFileError past ``max_bytes``."""
    row = nsfile_get(namespace, path, actor=actor)
    if max_bytes is not None and row.size > max_bytes:
        raise NamespaceFileError(f"{row.path} is larger than {max_bytes} bytes")
    with nsfile_open(namespace, path) as handle:
        return handle.read()


def namespaces_with_files() -> list[str]:
    return list(
        NamespaceFile.objects.order_by("namespace").values_list("namespace", flat=True).distinct()
    )


# ---------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class _Spooled:
    data: IO[bytes]
    size: int
    sha256: str


def _spool(data: bytes | IO[bytes], limit: int) -> _Spooled:
    """Copy the content aside once, counting and hashing it, refusing it past ``limit``."""
    source: IO[bytes] = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
    spool = tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK)  # noqa: SIM115 - returned
    digest, size = hashlib.sha256(), 0
    while chunk := source.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            spool.close()
            raise NamespaceFileError(f"the file is larger than {limit} bytes")
        digest.update(chunk)
        spool.write(chunk)
    spool.seek(0)
    return _Spooled(spool, size, digest.hexdigest())


def _ensure_folders(namespace: str, path: str) -> None:
    """Folder rows for every ancestor of ``path``; refuses a file standing where one is."""
    for folder in paths.ancestors(path):
        row, _ = NamespaceFile.objects.get_or_create(
            namespace=namespace,
            path=folder,
            defaults={"parent": paths.parent_of(folder), "is_directory": True},
        )
        if not row.is_directory:
            raise NamespaceFileError(f"{folder} is a file, so it cannot hold {path}")


def nsfile_check(namespace: str, path: str, *, directory: bool = False, actor: Any = None) -> str:
    """The normalised path if a file (or a folder) can be written there, else
    NamespaceFileError: a folder where a file would go, or a file where a folder is needed."""
    ns, normal = _namespace(namespace, actor, "write"), _path(path)
    existing = NamespaceFile.objects.filter(namespace=ns, path=normal).first()
    if existing is not None and existing.is_directory != directory:
        kind = "folder" if existing.is_directory else "file"
        raise NamespaceFileError(f"{normal} is a {kind} in namespace {ns}")
    blocking = NamespaceFile.objects.filter(
        namespace=ns, path__in=paths.ancestors(normal), is_directory=False
    ).first()
    if blocking is not None:
        raise NamespaceFileError(f"{blocking.path} is a file, so it cannot hold {normal}")
    return normal


def nsfile_put(
    *,
    namespace: str,
    path: str,
    data: bytes | IO[bytes],
    max_bytes: int | None = None,
    actor: Any = None,
) -> NamespaceFile:
    """Create or replace the file at ``path`` (its folders are created as needed)."""
    ns, normal = _namespace(namespace), nsfile_check(namespace, path, actor=actor)
    limit = max_bytes if max_bytes is not None else settings.TRELLIS_MAX_UPLOAD_BYTES
    spooled = _spool(data, limit)
    try:
        with transaction.atomic():
            _ensure_folders(ns, normal)
            _storage().put(storage_uri(ns, normal), spooled.data)
            row, _ = NamespaceFile.objects.update_or_create(
                namespace=ns,
                path=normal,
                defaults={"parent": paths.parent_of(normal), "is_directory": False,
                          "size": spooled.size, "sha256": spooled.sha256},
            )  # fmt: skip
            _register_namespace(ns)
    finally:
        spooled.data.close()
    return row


def nsfile_mkdir(*, namespace: str, path: str, actor: Any = None) -> NamespaceFile:
    """Create a folder (and its parents); an existing folder is fine, a file is not."""
    ns = _namespace(namespace)
    normal = nsfile_check(namespace, path, directory=True, actor=actor)
    with transaction.atomic():
        _ensure_folders(ns, normal)
        row, _ = NamespaceFile.objects.get_or_create(
            namespace=ns,
            path=normal,
            defaults={"parent": paths.parent_of(normal), "is_directory": True},
        )
        if not row.is_directory:
            raise NamespaceFileError(f"{normal} is a file in namespace {ns}")
        _register_namespace(ns)
    return row


def _register_namespace(namespace: str) -> None:
    """A namespace that only holds files still shows in the namespace tree."""

    namespace_ensure(namespace)


def _subtree(namespace: str, path: str) -> Any:
    from django.db.models import Q

    return NamespaceFile.objects.filter(namespace=namespace).filter(
        Q(path=path) | Q(path__startswith=path + "/")
    )


def nsfile_delete(*, namespace: str, path: str, actor: Any = None) -> int:
    """Delete a file, or a folder with everything in it; returns how many files went.
    The content leaves storage once the rows' deletion is committed."""
    ns, normal = _namespace(namespace, actor, "write"), _path(path)
    with transaction.atomic():
        rows = list(_subtree(ns, normal).select_for_update())
        if not rows:
            raise NamespaceFileNotFound(f"no file or folder {normal} in namespace {ns}")
        uris = [storage_uri(ns, r.path) for r in rows if not r.is_directory]
        _subtree(ns, normal).delete()
        transaction.on_commit(lambda: _remove_content(uris))
    return len(uris)


def _remove_content(uris: Iterable[str]) -> None:
    storage = _storage()
    for uri in uris:
        storage.delete(uri)


def nsfile_move(
    *, namespace: str, source: str, target: str, actor: Any = None
) -> list[NamespaceFile]:
    """Move (rename) a file or a folder; the target must not exist yet."""
    ns, src, dst = _namespace(namespace, actor, "write"), _path(source), _path(target)
    if paths.inside(dst, src):
        raise NamespaceFileError(f"cannot move {src} into itself ({dst})")
    storage = _storage()
    moved: list[NamespaceFile] = []
    old_uris: list[str] = []
    with transaction.atomic():
        rows = list(_subtree(ns, src).select_for_update().order_by("path"))
        if not rows:
            raise NamespaceFileNotFound(f"no file or folder {src} in namespace {ns}")
        if NamespaceFile.objects.filter(namespace=ns, path=dst).exists():
            raise NamespaceFileError(f"{dst} already exists in namespace {ns}")
        _ensure_folders(ns, dst)
        for row in rows:
            new_path = dst + row.path[len(src) :]
            if not row.is_directory:
                old = storage_uri(ns, row.path)
                with storage.open(old) as content:
                    storage.put(storage_uri(ns, new_path), content)
                old_uris.append(old)
            row.path, row.parent = new_path, paths.parent_of(new_path)
            row.save(update_fields=["path", "parent", "updated_at"])
            moved.append(row)
        transaction.on_commit(lambda: _remove_content(old_uris))
    return moved


def nsfile_put_zip(
    *, namespace: str, folder: str, archive: IO[bytes], actor: Any = None
) -> list[NamespaceFile]:
    """Every file of a zip archive, under ``folder``; the archive's own paths are checked
    like any other (an entry named ``../x`` is refused, nothing is written)."""
    _namespace(namespace, actor, "write")
    base = _path(folder, allow_root=True)
    try:  # count, sizes, CRCs and names checked before anything is written (issue 21)
        zipped, entries = open_checked(
            archive,
            max_members=MAX_ZIP_ENTRIES,
            max_total_bytes=settings.TRELLIS_MAX_UPLOAD_BYTES,
        )
    except ArchiveError as exc:
        raise NamespaceFileError(f"the zip is refused: {exc}") from None
    with zipped:
        targets = [(e, _path(f"{base.rstrip('/')}/{e.filename}")) for e in entries]
        written = []
        with transaction.atomic():
            for entry, target in targets:
                with zipped.open(entry) as content:
                    written.append(nsfile_put(namespace=namespace, path=target, data=content))
    return written


def nsfile_export_zip(namespace: str, *, actor: Any = None) -> bytes:
    """Every file of the namespace in one zip archive (paths without the leading slash)."""
    ns = _namespace(namespace, actor)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for row in NamespaceFile.objects.filter(namespace=ns, is_directory=False).order_by("path"):
            with nsfile_open(ns, row.path) as content:
                archive.writestr(row.path.lstrip("/"), content.read())
    return out.getvalue()


def file_attributes(row: NamespaceFile) -> dict[str, Any]:
    """Kestra's ``FileAttributes`` shape for the API."""

    def millis(moment: Any) -> int | None:
        return int(moment.timestamp() * 1000) if moment is not None else None

    return {
        "fileName": row.name if row.path != ROOT else "",
        "path": row.path,
        "type": "Directory" if row.is_directory else "File",
        "size": 0 if row.is_directory else row.size,
        "sha256": row.sha256 or None,
        "creationTime": millis(row.created_at),
        "lastModifiedTime": millis(row.updated_at),
        "metadata": {},
    }
