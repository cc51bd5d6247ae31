"""Internal storage on the deployment's configured backend: the folder ``MEDIA_ROOT`` or any
Django storage backend (``STORAGES["default"]``). The storage itself, and its URIs, are the
kernel's (``kernel.storage``); this module is the Django side that picks and wraps a backend."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import IO, Any, BinaryIO

from django.conf import settings
from django.core.files.base import ContentFile, File
from django.core.files.storage import FileSystemStorage, storages

from kernel.storage import Storage, StorageError, check_storable, name_of


class BackendStorage(Storage):
    """Internal storage on a Django storage backend (``STORAGES["default"]``: S3, GCS, Azure
    through django-storages). Names are the URIs' paths; a task that needs a local file gets
    a copy in a cache folder."""

    def __init__(self, backend: Any, cache: Path | str) -> None:
        super().__init__(cache)
        self.backend = backend

    def _store(self, uri: str, data: bytes | IO[bytes]) -> None:
        check_storable(data)
        name = name_of(uri)
        if self.backend.exists(name):
            self.backend.delete(name)
        content = ContentFile(data) if isinstance(data, bytes | bytearray) else File(data)
        saved = self.backend.save(name, content)
        if saved != name:  # a backend that renames on collision would break the URI
            raise StorageError(f"storage saved {name!r} as {saved!r}")

    def open(self, uri: str) -> BinaryIO:
        name = name_of(uri)
        if not self.backend.exists(name):
            raise StorageError(f"no such file in internal storage: {uri}")
        return self.backend.open(name, "rb")

    def exists(self, uri: str) -> bool:
        try:
            return self.backend.exists(name_of(uri))
        except StorageError:
            return False

    def size(self, uri: str) -> int:
        name = name_of(uri)
        if not self.backend.exists(name):
            raise StorageError(f"no such file in internal storage: {uri}")
        return self.backend.size(name)

    def path_of(self, uri: str) -> Path:
        """A local copy (scripts and ``read()`` want a file), refreshed on each call."""
        local = super().path_of(uri)
        if self.exists(uri):
            with self.open(uri) as stream:
                self._write(local, stream)
        return local

    def delete(self, uri: str) -> bool:
        name = name_of(uri)
        Storage.path_of(self, uri).unlink(missing_ok=True)  # the local copy, if any
        if not self.backend.exists(name):
            return False
        self.backend.delete(name)
        return True

    def delete_execution(self, namespace: str, flow_id: str, execution_id: str) -> None:
        prefix_uri = self.execution_prefix(namespace, flow_id, execution_id).rstrip("/")
        self._delete_tree(name_of(prefix_uri))
        shutil.rmtree(Storage.path_of(self, prefix_uri), ignore_errors=True)  # local copies

    def _delete_tree(self, folder: str) -> None:
        try:
            folders, files = self.backend.listdir(folder)
        except (FileNotFoundError, NotImplementedError):
            return
        for name in files:
            self.backend.delete(f"{folder}/{name}")
        for sub in folders:
            self._delete_tree(f"{folder}/{sub}")


def default_storage() -> Storage:
    """The storage the running service uses: the folder ``settings.MEDIA_ROOT``
    (``TRELLIS_STORAGE_DIR``, by default ``TRELLIS_HOME/storage``; every process of a
    deployment must see it), or any other Django storage backend set as
    ``STORAGES["default"]`` (S3 and others through django-storages)."""
    backend = storages["default"]
    if isinstance(backend, FileSystemStorage):
        return Storage(Path(settings.MEDIA_ROOT))
    return BackendStorage(backend, Path(settings.TRELLIS_HOME) / "storage-cache")
