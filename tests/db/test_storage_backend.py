"""Internal storage on a non-filesystem Django storage backend (as S3 would be)."""

from __future__ import annotations

import pytest

from kernel.storage import StorageError
from orchestrator.storage import BackendStorage, default_storage

IN_MEMORY = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@pytest.fixture
def storage(settings, tmp_path):
    settings.STORAGES = IN_MEMORY
    settings.TRELLIS_HOME = tmp_path
    return default_storage()


def test_a_configured_backend_is_used(storage) -> None:
    assert isinstance(storage, BackendStorage)


def test_files_round_trip_through_the_backend(storage, tmp_path) -> None:
    uri = storage.put_input("a.b", "flow", "exec1", "doc", "../../etc/passwd", b"hello")
    assert uri == "kestra:///a/b/flow/executions/exec1/inputs/doc/passwd"
    assert storage.exists(uri)
    assert storage.size(uri) == 5
    with storage.open(uri) as handle:
        assert handle.read() == b"hello"
    assert storage.path_of(uri).read_bytes() == b"hello"  # a local copy for scripts
    source = tmp_path / "out.csv"
    source.write_bytes(b"1,2")
    task_uri = storage.put_task_file("a.b", "flow", "exec1", "t", "run1", source)
    assert storage.belongs_to(task_uri, "a.b", "flow", "exec1")
    assert not storage.belongs_to(task_uri, "a.b", "flow", "exec2")
    storage.delete_execution("a.b", "flow", "exec1")
    assert not storage.exists(uri)
    assert not storage.exists(task_uri)


def test_traversal_is_refused(storage) -> None:
    with pytest.raises(StorageError):
        storage.open("kestra:///a/../../secret")
    with pytest.raises(StorageError):
        storage.open("kestra:///a/b/flow/executions/exec1/inputs/doc/missing")
