"""Git tasks against bare repositories made by the test; push and sync through stand-ins
for the run context's flow and namespace-file stores (the real ones: tests/db)."""

from __future__ import annotations

import fnmatch
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from tests.file_servers import bare_repo, git
from tests.unit.fake_context import FakeContext


@pytest.fixture
def allowed(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("TRELLIS_FS_ALLOWED_PATHS", str(tmp_path))
    return tmp_path


def kestra(name: str):  # noqa: ANN201
    return registry.get(f"io.kestra.plugin.git.{name}")()


def test_clone_a_local_bare_repository_into_the_working_directory(allowed) -> None:
    bare = bare_repo(allowed, {"README.md": "hello\n", "src/a.py": "print(1)\n"}, branch="dev")
    ctx = FakeContext(allowed / "ctx")

    out = kestra("Clone").run({"url": f"file://{bare}", "branch": "dev", "directory": "code"}, ctx)

    assert out["directory"] == str(ctx.working_dir / "code")
    assert (ctx.working_dir / "code/README.md").read_text() == "hello\n"
    assert (ctx.working_dir / "code/src/a.py").exists()
    assert len(out["commitId"]) == 40


def test_clone_into_the_working_directory_itself_keeps_what_is_there(allowed) -> None:
    bare = bare_repo(allowed, {"a.txt": "A"})
    ctx = FakeContext(allowed / "ctx")
    (ctx.working_dir / "earlier.txt").write_text("kept")

    kestra("Clone").run({"url": str(bare)}, ctx)

    assert sorted(p.name for p in ctx.working_dir.iterdir()) == [".git", "a.txt", "earlier.txt"]


def test_clone_refuses_what_it_may_not_reach(allowed, tmp_path, settings, monkeypatch) -> None:
    ctx = FakeContext(allowed / "ctx")
    settings.TRELLIS_HTTP_ALLOW = ""
    for url, message in (
        ("ssh://git@example.com/r.git", "unsupported"),
        ("ext::sh -c touch% /tmp/pwned", "unsupported"),
        ("https://127.0.0.1/r.git", "loopback"),
        ("https://user:tok@example.com/r.git", "credentials"),
    ):
        with pytest.raises(TaskFailed, match=message):
            kestra("Clone").run({"url": url}, ctx)
    monkeypatch.setenv("TRELLIS_FS_ALLOWED_PATHS", str(allowed / "elsewhere"))
    with pytest.raises(TaskFailed, match="outside the folders"):
        kestra("Clone").run({"url": str(allowed)}, ctx)
    monkeypatch.setenv("TRELLIS_FS_ALLOWED_PATHS", str(allowed))
    with pytest.raises(TaskFailed, match="relative"):
        kestra("Clone").run({"url": str(allowed), "directory": "../x"}, ctx)


def test_a_failing_clone_masks_the_password(allowed) -> None:
    ctx = FakeContext(allowed / "ctx", secrets=["tok-secret-88"])
    with pytest.raises(TaskFailed) as caught:
        kestra("Clone").run(
            {"url": f"file://{allowed}/nothing.git", "password": "tok-secret-88"}, ctx
        )
    assert "tok-secret-88" not in str(caught.value)


@dataclass(frozen=True)
class Flow:
    namespace: str
    id: str
    source: str


class FakeFlows:
    def __init__(self, flows: list[Flow]) -> None:
        self.flows = flows
        self.deployed: list = []

    def list(self, namespace: str, *, children: bool = False) -> list[Flow]:
        return [f for f in self.flows if f.namespace == namespace
                or (children and f.namespace.startswith(namespace + "."))]  # fmt: skip

    def deploy(self, documents, *, namespace, delete_missing=False, dry_run=False):  # noqa: ANN001, ANN201
        self.deployed.append((documents, namespace, delete_missing, dry_run))
        return [{"namespace": namespace, "flowId": name, "syncState": "ADDED"}
                for name, _ in documents]  # fmt: skip


class FakeFiles:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = dict(files)

    def list(self, namespace: str) -> list[str]:
        return sorted(self.files)

    def read(self, namespace: str, path: str, max_bytes=None) -> bytes:  # noqa: ANN001
        return self.files[path]

    def copy_to(self, namespace: str, path: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(self.files[path])

    def write(self, namespace: str, path: str, data: bytes) -> None:
        self.files[path] = data

    def delete(self, namespace: str, path: str) -> None:
        del self.files[path]

    @staticmethod
    def matches(path: str, patterns: list[str]) -> bool:
        return any(fnmatch.fnmatch(path.lstrip("/"), p) for p in patterns)


def flow_yaml(namespace: str, flow_id: str) -> str:
    return f"id: {flow_id}\nnamespace: {namespace}\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"


def test_push_flows_then_sync_them_back(allowed) -> None:
    bare = bare_repo(allowed, {"README.md": "r"})
    ctx = FakeContext(allowed / "ctx")
    ctx.namespace = "company"
    ctx.flows = FakeFlows([
        Flow("company", "one", flow_yaml("company", "one")),
        Flow("company.team", "two", flow_yaml("company.team", "two")),
    ])  # fmt: skip

    pushed = kestra("PushFlows").run(
        {"url": str(bare), "branch": "main", "includeChildNamespaces": True,
         "commitMessage": "flows", "password": "tok-1"}, ctx,
    )  # fmt: skip
    listing = git("ls-tree", "-r", "--name-only", "main", cwd=bare)
    again = kestra("PushFlows").run({"url": str(bare), "branch": "main",
                                     "includeChildNamespaces": True}, ctx)  # fmt: skip
    synced = kestra("SyncFlows").run(
        {"url": str(bare), "branch": "main", "targetNamespace": "prod",
         "includeChildNamespaces": True, "delete": True}, ctx,
    )  # fmt: skip

    assert len(pushed["commitId"]) == 40
    assert sorted(listing.split()) == ["README.md", "_flows/one.yml", "_flows/team/two.yml"]
    assert again["commitId"] is None  # nothing changed, nothing committed
    documents, namespace, delete, dry = ctx.flows.deployed[0]
    assert (namespace, delete, dry) == ("prod", True, False)
    sources = dict(documents)
    assert "namespace: prod\n" in sources["_flows/one.yml"]
    assert "namespace: prod.team\n" in sources["_flows/team/two.yml"]
    assert len(synced["flows"]) == 2


def test_push_to_a_new_branch_of_an_empty_repository(allowed) -> None:
    bare = allowed / "empty.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    ctx = FakeContext(allowed / "ctx")
    ctx.namespace_files = FakeFiles({"/scripts/a.py": b"print(1)\n"})

    out = kestra("PushNamespaceFiles").run({"url": str(bare), "branch": "feature"}, ctx)

    assert out["files"] == ["/scripts/a.py"]
    assert git("show", "feature:_files/scripts/a.py", cwd=bare) == "print(1)\n"


def test_sync_namespace_files_writes_updates_and_deletes(allowed) -> None:
    bare = bare_repo(allowed, {"_files/a.txt": "new", "_files/sub/b.txt": "B"})
    ctx = FakeContext(allowed / "ctx")
    ctx.namespace_files = FakeFiles({"/a.txt": b"old", "/stale.txt": b"x"})

    dry = kestra("SyncNamespaceFiles").run({"url": str(bare), "delete": True, "dryRun": True}, ctx)
    assert ctx.namespace_files.files == {"/a.txt": b"old", "/stale.txt": b"x"}
    out = kestra("SyncNamespaceFiles").run({"url": str(bare), "delete": True}, ctx)

    assert ctx.namespace_files.files == {"/a.txt": b"new", "/sub/b.txt": b"B"}
    states = {f["path"]: f["syncState"] for f in out["files"]}
    assert states == {"/a.txt": "UPDATED", "/sub/b.txt": "ADDED", "/stale.txt": "DELETED"}
    assert dry["files"] == out["files"]


def test_submodules_are_cloned_only_from_allowed_places(
    allowed, tmp_path_factory, monkeypatch
) -> None:
    (allowed / "inner").mkdir()
    inner = bare_repo(allowed / "inner", {"lib.txt": "L"})
    outside = tmp_path_factory.mktemp("outside")
    far = bare_repo(outside, {"secret.txt": "S"})
    seed = allowed / "outer-seed"
    seed.mkdir()
    git("init", "-q", cwd=seed)
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", f"file://{inner}", "lib",
        cwd=seed)  # fmt: skip
    git("commit", "-q", "-m", "with submodule", cwd=seed)
    outer = allowed / "outer.git"
    git("clone", "-q", "--bare", str(seed), str(outer), cwd=allowed)
    ctx = FakeContext(allowed / "ctx")

    out = kestra("Clone").run({"url": str(outer), "cloneSubmodules": True, "directory": "a"}, ctx)
    assert (Path(out["directory"]) / "lib/lib.txt").read_text() == "L"

    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", f"file://{far}", "far",
        cwd=seed)  # fmt: skip
    git("commit", "-q", "-m", "outside", cwd=seed)
    git("push", "-q", str(outer), "HEAD:refs/heads/main", cwd=seed)
    with pytest.raises(TaskFailed, match="outside the folders"):
        kestra("Clone").run({"url": str(outer), "cloneSubmodules": True, "directory": "b"}, ctx)
