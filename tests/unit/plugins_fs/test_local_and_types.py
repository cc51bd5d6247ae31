"""Local file tasks stay inside TRELLIS_FS_ALLOWED_PATHS; every fs type is registered under
Kestra's name and validates its properties."""

from __future__ import annotations

import importlib.util
import os

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from plugins.fs import PLUGINS
from tests.unit.fake_context import FakeContext


@pytest.fixture
def allowed(tmp_path, monkeypatch):  # noqa: ANN201
    root = tmp_path / "allowed"
    root.mkdir()
    monkeypatch.setenv("TRELLIS_FS_ALLOWED_PATHS", str(root))
    return root


def local(name: str):  # noqa: ANN201
    return registry.get(f"io.kestra.plugin.fs.local.{name}")()


def test_every_kestra_name_resolves() -> None:
    names = {alias for cls in PLUGINS for alias in cls.aliases}
    for protocol in ("sftp", "ftp", "ftps", "local"):
        for name in ("List", "Download", "Downloads", "Upload", "Uploads", "Delete", "Move"):
            assert f"io.kestra.plugin.fs.{protocol}.{name}" in names
    assert "io.kestra.plugin.fs.sftp.Trigger" in names
    assert "io.kestra.plugin.fs.ftp.Trigger" in names
    assert "io.kestra.plugin.fs.ftps.Trigger" in names
    assert registry.get("io.kestra.plugin.fs.sftp.Download").type == "trellis.fs.sftp.Download"


def test_local_tasks_are_refused_while_no_folder_is_allowed(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("TRELLIS_FS_ALLOWED_PATHS", raising=False)
    with pytest.raises(TaskFailed, match="TRELLIS_FS_ALLOWED_PATHS lists no folder"):
        local("List").run({"from": str(tmp_path)}, FakeContext(tmp_path / "ctx"))


def test_local_paths_outside_allowed_folders_are_refused(allowed, tmp_path) -> None:
    ctx = FakeContext(tmp_path / "ctx")
    (tmp_path / "secret.txt").write_text("no")
    for props in (
        {"from": str(tmp_path / "secret.txt")},
        {"from": str(allowed / ".." / "secret.txt")},
        {"from": "relative/path.txt"},
    ):
        with pytest.raises(TaskFailed, match="outside the folders|absolute"):
            local("Download").run(props, ctx)
    os.symlink(tmp_path / "secret.txt", allowed / "link.txt")
    with pytest.raises(TaskFailed, match="outside the folders"):
        local("Download").run({"from": str(allowed / "link.txt")}, ctx)


def test_local_round_trip_inside_an_allowed_folder(allowed, tmp_path) -> None:
    ctx = FakeContext(tmp_path / "ctx")
    (ctx.storage / "in.txt").write_text("hello")

    local("Upload").run({"from": "kestra:///test/in.txt", "to": str(allowed / "a/b.txt")}, ctx)
    listed = local("List").run({"from": str(allowed), "recursive": True}, ctx)
    copied = local("Copy").run(
        {"from": str(allowed / "a/b.txt"), "to": str(allowed / "c.txt")}, ctx
    )
    down = local("Download").run({"from": str(allowed / "c.txt")}, ctx)
    local("Move").run({"from": str(allowed / "c.txt"), "to": str(allowed / "d.txt")}, ctx)
    deleted = local("Delete").run({"uri": str(allowed / "d.txt")}, ctx)

    assert [f["name"] for f in listed["files"]] == ["a", "b.txt"]
    assert copied["to"] == str(allowed / "c.txt")
    assert ctx.open_uri(down["uri"]).read_text() == "hello"
    assert deleted == {"uri": str(allowed / "d.txt"), "deleted": True}
    assert sorted(p.name for p in allowed.iterdir()) == ["a"]


def test_validation_names_problems() -> None:
    downloads = registry.get("io.kestra.plugin.fs.sftp.Downloads")
    problems = downloads.validate({"from": "/in", "action": "MOVE", "regExp": "("})
    fields = sorted(field for field, _ in problems)
    assert fields == ["moveDirectory", "regExp"]


def test_a_missing_library_fails_validation_naming_the_extra(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "paramiko" else real(name)
    )
    problems = registry.get("io.kestra.plugin.fs.sftp.List").validate({"from": "/"})
    assert problems
    assert "pip install 'trellis[fs]'" in problems[0][1]


def test_a_flow_using_a_type_whose_library_is_missing_is_refused_at_validation(
    monkeypatch,
) -> None:
    from kernel.spec.model import SpecError
    from kernel.spec.parse import parse_flow

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "paramiko" else real(name)
    )
    source = (
        "id: f\nnamespace: t\ntasks:\n  - id: d\n    type: io.kestra.plugin.fs.sftp.Download\n"
        "    host: h\n    from: /a\n"
    )
    with pytest.raises(SpecError, match=r"pip install 'trellis\[fs\]'"):
        parse_flow(source, filename="f.yml")
