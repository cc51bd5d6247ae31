"""Namespace files: services, the REST API on Kestra's paths, the CLI, the admin, and
``read()`` in expressions (issue 8)."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command

from executions.runtime.expr_io import ExecutionIO
from kernel.expressions.render import IO_KEY, render
from namespaces.allowed import allowed_namespace_add
from namespaces.models import NamespaceFile
from namespaces.services import (
    NamespaceFileError,
    NamespaceFileNotFound,
    nsfile_delete,
    nsfile_list,
    nsfile_mkdir,
    nsfile_move,
    nsfile_put,
    nsfile_read,
    storage_uri,
)
from tests.db.api_support import authed_client, grant, problem

pytestmark = pytest.mark.django_db

NS = "company.team"
BASE = f"/api/v1/namespaces/{NS}/files"


@pytest.fixture(autouse=True)
def storage_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


def stored(root: Path, namespace: str, path: str) -> Path:
    return root / Path(*namespace.split(".")) / "_files" / path.lstrip("/")


# ------------------------------------------------------------------------------ services


def test_a_file_is_stored_in_storage_and_indexed_with_its_folders(storage_root) -> None:
    row = nsfile_put(namespace=NS, path="scripts/etl.py", data=b"print(1)\n")

    assert (row.path, row.size, row.is_directory) == ("/scripts/etl.py", 9, False)
    assert stored(storage_root, NS, "/scripts/etl.py").read_bytes() == b"print(1)\n"
    assert storage_uri(NS, "/scripts/etl.py") == "kestra:///company/team/_files/scripts/etl.py"
    assert [(r.path, r.is_directory) for r in nsfile_list(NS, recursive=True)] == [
        ("/scripts", True),
        ("/scripts/etl.py", False),
    ]
    assert [r.path for r in nsfile_list(NS)] == ["/scripts"]
    assert nsfile_read(NS, "/scripts/etl.py") == b"print(1)\n"


def test_uploading_again_replaces_the_content() -> None:
    nsfile_put(namespace=NS, path="a.txt", data=b"one")
    nsfile_put(namespace=NS, path="/a.txt", data=io.BytesIO(b"two!"))

    assert nsfile_read(NS, "a.txt") == b"two!"
    assert NamespaceFile.objects.get(namespace=NS, path="/a.txt").size == 4


@pytest.mark.parametrize("path", ["../escape.txt", "/a/../../b.txt", "a\\b.txt", ""])
def test_paths_that_climb_out_are_refused_and_nothing_is_written(path, storage_root) -> None:
    with pytest.raises(NamespaceFileError):
        nsfile_put(namespace=NS, path=path, data=b"x")

    assert not NamespaceFile.objects.exists()
    assert not list(storage_root.rglob("*.txt")) if storage_root.exists() else True


def test_a_file_cannot_become_a_folder_and_the_other_way_round() -> None:
    nsfile_put(namespace=NS, path="data", data=b"x")
    nsfile_mkdir(namespace=NS, path="dir")

    with pytest.raises(NamespaceFileError, match="/data is a file"):
        nsfile_put(namespace=NS, path="data/x.csv", data=b"x")
    with pytest.raises(NamespaceFileError, match="/dir is a folder"):
        nsfile_put(namespace=NS, path="dir", data=b"x")


def test_deleting_a_folder_removes_its_files_after_commit(
    storage_root, django_capture_on_commit_callbacks
) -> None:
    nsfile_put(namespace=NS, path="d/a.txt", data=b"a")
    nsfile_put(namespace=NS, path="d/sub/b.txt", data=b"b")
    nsfile_put(namespace=NS, path="keep.txt", data=b"k")

    with django_capture_on_commit_callbacks(execute=True):
        assert nsfile_delete(namespace=NS, path="/d") == 2

    assert [r.path for r in nsfile_list(NS, recursive=True)] == ["/keep.txt"]
    assert not stored(storage_root, NS, "/d/a.txt").exists()
    assert not stored(storage_root, NS, "/d/sub/b.txt").exists()
    with pytest.raises(NamespaceFileNotFound):
        nsfile_delete(namespace=NS, path="/d")


def test_moving_a_folder_moves_its_files(django_capture_on_commit_callbacks) -> None:
    nsfile_put(namespace=NS, path="old/a.txt", data=b"a")

    with django_capture_on_commit_callbacks(execute=True):
        nsfile_move(namespace=NS, source="/old", target="/new/place")

    assert nsfile_read(NS, "/new/place/a.txt") == b"a"
    assert [r.path for r in nsfile_list(NS, recursive=True)] == [
        "/new", "/new/place", "/new/place/a.txt",
    ]  # fmt: skip


# ----------------------------------------------------------------------------- read()


def _context(namespace: str = NS) -> dict:
    return {
        "flow": {"id": "f", "namespace": namespace},
        IO_KEY: ExecutionIO(namespace, "f", "e1"),
    }


def test_read_gets_a_namespace_file_by_path_nsfile_uri_or_file_uri() -> None:
    nsfile_put(namespace=NS, path="queries/q.sql", data=b"select 1")
    nsfile_put(namespace="other.ns", path="x.txt", data=b"elsewhere")

    assert render("{{ read('queries/q.sql') }}", _context()) == "select 1"
    assert render("{{ read('/queries/q.sql') }}", _context()) == "select 1"
    assert render("{{ read('nsfile:///queries/q.sql') }}", _context()) == "select 1"
    assert render("{{ read(fileURI('queries/q.sql')) }}", _context()) == "select 1"
    # another namespace's files only once it allows this one (issue 21)
    allowed_namespace_add(namespace="other.ns", allowed=NS)
    assert render("{{ read('x.txt', namespace='other.ns') }}", _context()) == "elsewhere"
    assert render("{{ read('nsfile://other.ns/x.txt') }}", _context()) == "elsewhere"


@pytest.mark.parametrize("path", ["missing.txt", "../../etc/passwd"])
def test_read_of_a_missing_or_escaping_path_is_a_clear_error(path) -> None:
    from kernel.expressions.render import ExpressionError

    with pytest.raises(ExpressionError, match="Unable to render"):
        render(f"{{{{ read('{path}') }}}}", _context())


# --------------------------------------------------------------------------------- API


@pytest.fixture
def api(superuser):
    return authed_client(superuser)


def test_api_upload_list_get_stats_and_delete(api) -> None:
    upload = SimpleUploadedFile("etl.py", b"print(1)\n")
    response = api.post(f"{BASE}?path=/scripts/etl.py", {"fileContent": upload})
    assert response.status_code == 200, response.content
    assert response.json()[0]["path"] == "/scripts/etl.py"

    listing = api.get(f"{BASE}/directory?path=/scripts").json()
    assert [(f["fileName"], f["type"], f["size"]) for f in listing] == [("etl.py", "File", 9)]
    top = api.get(f"{BASE}/directory").json()
    assert [(f["fileName"], f["type"]) for f in top] == [("scripts", "Directory")]

    content = api.get(f"{BASE}?path=/scripts/etl.py")
    assert content.status_code == 200
    assert b"".join(content.streaming_content) == b"print(1)\n"
    assert api.get(f"{BASE}/stats?path=/scripts/etl.py").json()["type"] == "File"

    assert api.delete(f"{BASE}?path=/scripts").status_code == 204
    assert api.get(f"{BASE}/directory").json() == []
    problem(api.get(f"{BASE}?path=/scripts/etl.py"), 404)


def test_api_refuses_traversal_with_the_field_named(api) -> None:
    upload = SimpleUploadedFile("x.txt", b"x")
    body = problem(api.post(f"{BASE}?path=../../x.txt", {"fileContent": upload}), 422)

    assert body["errors"][0]["field"] == "path"
    assert not NamespaceFile.objects.exists()
    problem(api.get(f"{BASE}?path=/a/../../etc/passwd"), 422)


def test_api_zip_upload_unpacks_into_the_folder_and_export_zips_back(api) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("a.txt", "A")
        z.writestr("sub/b.txt", "B")
    upload = SimpleUploadedFile("bundle.zip", archive.getvalue())

    response = api.post(f"{BASE}?path=/data", {"fileContent": upload})

    assert response.status_code == 200, response.content
    assert nsfile_read(NS, "/data/sub/b.txt") == b"B"
    exported = api.get(f"{BASE}/export")
    names = zipfile.ZipFile(io.BytesIO(b"".join(exported.streaming_content))).namelist()
    assert names == ["data/a.txt", "data/sub/b.txt"]


def test_api_zip_with_an_escaping_entry_writes_nothing(api) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("ok.txt", "fine")
        z.writestr("../evil.txt", "no")

    response = api.post(
        f"{BASE}?path=/", {"fileContent": SimpleUploadedFile("x.zip", archive.getvalue())}
    )  # noqa: E501

    problem(response, 422)
    assert not NamespaceFile.objects.exists()


def test_api_mkdir_and_move(api) -> None:
    assert api.post(f"{BASE}/directory?path=/in").status_code == 200
    nsfile_put(namespace=NS, path="/in/a.txt", data=b"a")

    assert api.put(f"{BASE}?from=/in&to=/out").status_code == 200
    assert nsfile_read(NS, "/out/a.txt") == b"a"


def test_api_needs_read_to_list_and_write_to_upload(django_user_model) -> None:
    user = django_user_model.objects.create_user(username="reader")
    grant(user, "company", "read")
    client = authed_client(user)
    nsfile_put(namespace=NS, path="a.txt", data=b"a")

    assert client.get(f"{BASE}/directory").status_code == 200
    problem(client.post(f"{BASE}?path=/b.txt", {"fileContent": SimpleUploadedFile("b", b"b")}), 403)
    problem(client.get("/api/v1/namespaces/other/files/directory"), 403)


# --------------------------------------------------------------------------------- CLI


def test_cli_uploads_a_folder_lists_and_deletes(tmp_path, capsys) -> None:
    folder = tmp_path / "files"
    (folder / "sub").mkdir(parents=True)
    (folder / "q.sql").write_text("select 1")
    (folder / "sub" / "a.py").write_text("print(1)")
    (folder / ".git").mkdir()
    (folder / ".git" / "config").write_text("hidden")

    call_command("namespace", "files", "upload", NS, str(folder), "--to", "/app")
    call_command("namespace", "files", "list", NS, "/app", "--recursive")
    out = capsys.readouterr().out

    assert "uploaded /app/q.sql (8 bytes)" in out
    assert "/app/sub/a.py" in out
    assert ".git" not in out
    call_command("namespace", "files", "delete", NS, "/app/sub")
    assert [r.path for r in nsfile_list(NS, recursive=True)] == ["/app", "/app/q.sql"]


def test_cli_refuses_a_bad_target_and_uploads_nothing(tmp_path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")

    with pytest.raises(CommandError, match="'..' are not allowed"):
        call_command("namespace", "files", "upload", NS, str(source), "--to", "../x.txt")
    assert not NamespaceFile.objects.exists()


# ------------------------------------------------------------------------------- admin


def test_admin_upload_download_and_delete(client, superuser) -> None:
    client.force_login(superuser)
    add = "/admin/namespaces/namespacefile/add/"
    response = client.post(
        add, {"namespace": NS, "path": "docs/readme.md",
              "content": SimpleUploadedFile("readme.md", b"# hi")},
    )  # fmt: skip
    assert response.status_code == 302, response.content
    row = NamespaceFile.objects.get(path="/docs/readme.md")
    listing = client.get("/admin/namespaces/namespacefile/")
    assert listing.status_code == 200
    assert b"/docs/readme.md" in listing.content
    assert client.get(f"/admin/namespaces/namespacefile/{row.pk}/change/").status_code == 200
    download = client.get(f"/admin/namespaces/namespacefile/{row.pk}/download/")
    assert b"".join(download.streaming_content) == b"# hi"

    bad = client.post(
        add, {"namespace": NS, "path": "../x", "content": SimpleUploadedFile("x", b"x")}
    )  # noqa: E501
    assert bad.status_code == 200
    assert b"are not allowed" in bad.content

    folder = NamespaceFile.objects.get(path="/docs")
    client.post(f"/admin/namespaces/namespacefile/{folder.pk}/delete/", {"post": "yes"})
    assert not NamespaceFile.objects.exists()
