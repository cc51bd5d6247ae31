"""Internal storage on the local filesystem: URIs, atomic writes, confinement to the root."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest

from kernel.storage import Storage, StorageError, sanitize_filename
from orchestrator.storage import default_storage

NS, FLOW, EXE = "io.kestra.tests", "inputs", "5ZQ1sLk0bBvDq3nT"
PREFIX = f"kestra:///io/kestra/tests/inputs/executions/{EXE}/"


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    return Storage(tmp_path / "storage")


def test_an_uploaded_input_gets_a_kestra_uri_and_its_bytes_are_kept(storage, tmp_path):
    uri = storage.put_input(NS, FLOW, EXE, "file", "application-test.yml", b"a: 1\n")

    assert uri == PREFIX + "inputs/file/application-test.yml"
    assert (
        storage.path_of(uri)
        == (
            tmp_path
            / "storage/io/kestra/tests/inputs/executions"
            / EXE
            / "inputs/file/application-test.yml"
        ).resolve()
    )
    with storage.open(uri) as stream:
        assert stream.read() == b"a: 1\n"
    assert storage.exists(uri)
    assert storage.size(uri) == 5


def test_an_input_can_be_streamed_from_a_file_object(storage):
    uri = storage.put_input(NS, FLOW, EXE, "data", "big.bin", io.BytesIO(b"x" * 3_000_000))

    assert storage.size(uri) == 3_000_000


def test_a_task_file_is_copied_under_its_task_run(storage, tmp_path):
    source = tmp_path / "out.csv"
    source.write_bytes(b"a,b\n1,2\n")

    uri = storage.put_task_file(NS, FLOW, EXE, "extract", "7rT2kq", source)
    renamed = storage.put_task_file(NS, FLOW, EXE, "extract", "7rT2kq", source, name="rows.csv")

    assert uri == PREFIX + "tasks/extract/7rT2kq/out.csv"
    assert renamed == PREFIX + "tasks/extract/7rT2kq/rows.csv"
    assert storage.open(renamed).read() == b"a,b\n1,2\n"
    assert source.exists()  # copied, not moved


def test_writing_again_replaces_the_file_and_leaves_no_temporary_file(storage):
    storage.put_input(NS, FLOW, EXE, "file", "f.txt", b"first")
    uri = storage.put_input(NS, FLOW, EXE, "file", "f.txt", b"second")

    assert storage.open(uri).read() == b"second"
    assert os.listdir(storage.path_of(uri).parent) == ["f.txt"]


def test_a_failed_write_leaves_neither_a_file_nor_a_temporary_file(storage):
    class Broken(io.RawIOBase):
        def readable(self):
            return True

        def readinto(self, buffer):
            raise OSError("connection reset")

    with pytest.raises(OSError, match="connection reset"):
        storage.put_input(NS, FLOW, EXE, "file", "f.txt", Broken())

    folder = storage.path_of(PREFIX + "inputs/file/f.txt").parent
    assert os.listdir(folder) == []


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\data.csv", "data.csv"),
        (".bashrc", "bashrc"),
        ("...", "file"),
        ("", "file"),
        ("my report (1).pdf", "my_report_(1).pdf"),
        ("naïve.txt", "na_ve.txt"),
    ],
)
def test_filenames_are_sanitised(storage, name, stored):
    assert sanitize_filename(name) == stored
    assert storage.put_input(NS, FLOW, EXE, "f", name, b"") == PREFIX + f"inputs/f/{stored}"


@pytest.mark.parametrize(
    ("namespace", "flow_id", "execution_id", "input_id"),
    [
        ("io..tests", FLOW, EXE, "f"),
        (NS, "../x", EXE, "f"),
        (NS, FLOW, "..", "f"),
        (NS, FLOW, "a/b", "f"),
        (NS, FLOW, EXE, "../../x"),
        (NS, FLOW, EXE, ""),
    ],
)
def test_ids_that_would_escape_their_folder_are_refused(
    storage, namespace, flow_id, execution_id, input_id
):
    with pytest.raises(StorageError, match="invalid"):
        storage.put_input(namespace, flow_id, execution_id, input_id, "f.txt", b"")


@pytest.mark.parametrize(
    "uri",
    [
        "kestra:///io/../../etc/passwd",
        "kestra:///io/%2e%2e/%2e%2e/etc/passwd",
        "kestra:///io/./x",
        "kestra:///io\\..\\x",
        "kestra:///",
        "kestra://io/x",
        "file:///etc/passwd",
        "/etc/passwd",
    ],
)
def test_uris_that_are_malformed_or_leave_the_root_are_refused(storage, uri):
    with pytest.raises(StorageError):
        storage.path_of(uri)
    assert not storage.exists(uri)


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_symlink_out_of_the_root_is_refused(storage, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    storage.root.mkdir(parents=True)
    (storage.root / "io").symlink_to(tmp_path)

    with pytest.raises(StorageError, match="outside the storage root"):
        storage.open("kestra:///io/secret.txt")


def test_reading_a_missing_file_is_a_storage_error(storage):
    uri = PREFIX + "inputs/file/none.txt"

    assert not storage.exists(uri)
    with pytest.raises(StorageError, match="no such file"):
        storage.open(uri)
    with pytest.raises(StorageError, match="no such file"):
        storage.size(uri)


def test_a_folder_is_not_a_file(storage):
    storage.put_input(NS, FLOW, EXE, "file", "f.txt", b"x")

    assert not storage.exists(PREFIX + "inputs/file")
    with pytest.raises(StorageError):
        storage.open(PREFIX + "inputs/file")


def test_files_belong_only_to_their_own_execution(storage):
    uri = storage.put_input(NS, FLOW, EXE, "file", "f.txt", b"x")

    assert storage.belongs_to(uri, NS, FLOW, EXE)
    assert not storage.belongs_to(uri, NS, FLOW, EXE + "2")  # a neighbour sharing a prefix
    assert not storage.belongs_to(uri, NS, "other", EXE)
    assert not storage.belongs_to(uri, "io.kestra", "tests", "inputs")
    assert not storage.belongs_to(PREFIX, NS, FLOW, EXE)
    assert not storage.belongs_to(PREFIX + "../other/x", NS, FLOW, EXE)
    assert not storage.belongs_to(PREFIX + "x", "bad..ns", FLOW, EXE)


def test_deleting_an_execution_removes_its_files_only(storage, tmp_path):
    source = tmp_path / "o.txt"
    source.write_bytes(b"o")
    mine = storage.put_input(NS, FLOW, EXE, "file", "f.txt", b"x")
    task = storage.put_task_file(NS, FLOW, EXE, "t", "r", source)
    other = storage.put_input(NS, FLOW, "another", "file", "f.txt", b"y")

    storage.delete_execution(NS, FLOW, EXE)
    storage.delete_execution(NS, FLOW, EXE)  # again: nothing left, no error

    assert not storage.exists(mine)
    assert not storage.exists(task)
    assert storage.exists(other)


def test_default_storage_is_the_configured_storage_folder(monkeypatch, tmp_path):
    from django.conf import settings

    monkeypatch.setattr(settings, "MEDIA_ROOT", tmp_path / "storage", raising=False)

    assert default_storage().root == (tmp_path / "storage").resolve()


def test_the_module_imports_without_django():
    import subprocess

    code = "import sys, kernel.storage, kernel.inputs; sys.exit('django' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False)

    assert done.returncode == 0
