"""SFTP and FTP tasks against real servers on 127.0.0.1 (asyncssh, pyftpdlib), given /
when / then; the outbound guard refuses loopback until TRELLIS_HTTP_ALLOW opens it."""

from __future__ import annotations

from pathlib import Path

import pytest

from kernel.plugin import TaskFailed
from kernel.registry import registry
from tests.file_servers import PASSWORD, USER, ftp_server, sftp_server
from tests.unit.fake_context import FakeContext, PollContext, allow_loopback


@pytest.fixture
def loopback(settings) -> None:
    allow_loopback(settings)


@pytest.fixture(params=["sftp", "ftp", "ftps"])
def server(request, tmp_path):  # noqa: ANN201 - (protocol, root folder, connection props)
    root = tmp_path / "remote"
    root.mkdir()
    extra = {}
    if request.param == "sftp":
        running = sftp_server(root)
    elif request.param == "ftp":
        running = ftp_server(root)
    else:
        running = ftp_server(root, tls=True)
        extra = {"insecureTrustAllCertificates": True}  # the test server's own certificate
    with running as port:
        props = {"host": "127.0.0.1", "port": str(port), "username": USER, "password": PASSWORD}
        yield request.param, root, {**props, **extra}


def task(protocol: str, name: str):  # noqa: ANN201
    return registry.get(f"io.kestra.plugin.fs.{protocol}.{name}")()


def stored(ctx: FakeContext, name: str, text: str) -> str:
    path = ctx.storage / name
    path.write_text(text)
    return f"kestra:///test/{name}"


def test_upload_list_download_move_delete(server, loopback, tmp_path) -> None:
    protocol, root, conn = server
    ctx = FakeContext(tmp_path / "ctx")
    uri = stored(ctx, "report.csv", "a,b\n1,2\n")

    up = task(protocol, "Upload").run({**conn, "from": uri, "to": "/in/deep/report.csv"}, ctx)
    assert (root / "in/deep/report.csv").read_text() == "a,b\n1,2\n"
    assert up["to"] == f"{protocol}://127.0.0.1:{conn['port']}/in/deep/report.csv"

    listed = task(protocol, "List").run({**conn, "from": "/in", "recursive": True}, ctx)
    files = {f["name"]: f for f in listed["files"]}
    assert files["report.csv"]["size"] == 8
    assert files["report.csv"]["fileType"] == "FILE"
    assert files["deep"]["fileType"] == "FOLDER"

    down = task(protocol, "Download").run({**conn, "from": "/in/deep/report.csv"}, ctx)
    assert ctx.open_uri(down["to"]).read_text() == "a,b\n1,2\n"
    assert down["uri"] == down["to"]

    moved = task(protocol, "Move").run(
        {**conn, "from": "/in/deep/report.csv", "to": "/archive/"}, ctx
    )
    assert (root / "archive/report.csv").exists()
    assert not (root / "in/deep/report.csv").exists()
    assert moved["to"].endswith("/archive/report.csv")

    gone = task(protocol, "Delete").run({**conn, "uri": "/archive/report.csv"}, ctx)
    assert gone["deleted"] is True
    again = task(protocol, "Delete").run({**conn, "uri": "/archive/report.csv"}, ctx)
    assert again["deleted"] is False
    with pytest.raises(TaskFailed, match="no such file"):
        task(protocol, "Delete").run(
            {**conn, "uri": "/archive/report.csv", "errorOnMissing": True}, ctx
        )


def test_downloads_with_regexp_then_move(server, loopback, tmp_path) -> None:
    protocol, root, conn = server
    (root / "in").mkdir()
    for name in ("a.csv", "b.csv", "c.txt"):
        (root / "in" / name).write_text(name)
    ctx = FakeContext(tmp_path / "ctx")

    result = task(protocol, "Downloads").run(
        {**conn, "from": "/in", "regExp": r".*\.csv", "action": "MOVE", "moveDirectory": "/done"},
        ctx,
    )

    assert sorted(result["outputFiles"]) == ["a.csv", "b.csv"]
    assert ctx.open_uri(result["outputFiles"]["a.csv"]).read_text() == "a.csv"
    assert sorted(p.name for p in (root / "done").iterdir()) == ["a.csv", "b.csv"]
    assert sorted(p.name for p in (root / "in").iterdir()) == ["c.txt"]


def test_uploads_many_files_into_a_folder(server, loopback, tmp_path) -> None:
    protocol, root, conn = server
    ctx = FakeContext(tmp_path / "ctx")
    first, second = stored(ctx, "one.txt", "1"), stored(ctx, "two.txt", "2")

    result = task(protocol, "Uploads").run(
        {**conn, "from": {"x.txt": first, "y.txt": second}, "to": "/up"}, ctx
    )

    assert len(result["files"]) == 2
    assert (root / "up/x.txt").read_text() == "1"
    assert (root / "up/y.txt").read_text() == "2"


def test_wrong_password_is_a_clear_failure(server, loopback, tmp_path) -> None:
    protocol, _root, conn = server
    ctx = FakeContext(tmp_path / "ctx")
    with pytest.raises(TaskFailed) as caught:
        task(protocol, "List").run({**conn, "password": "wrong-one", "from": "/"}, ctx)
    assert "wrong-one" not in str(caught.value)
    assert "refused" in str(caught.value) or "failed" in str(caught.value)


def test_loopback_is_refused_by_the_outbound_guard_by_default(server, settings, tmp_path) -> None:
    protocol, _root, conn = server
    settings.TRELLIS_HTTP_ALLOW = ""
    with pytest.raises(TaskFailed, match="loopback"):
        task(protocol, "List").run({**conn, "from": "/"}, FakeContext(tmp_path / "ctx"))


def test_trigger_starts_once_per_batch_and_moves_after_commit(server, loopback, tmp_path) -> None:
    protocol, root, conn = server
    (root / "in").mkdir()
    (root / "in/a.csv").write_text("A")
    trigger = registry.get(f"io.kestra.plugin.fs.{protocol}.Trigger")()
    props = {**conn, "from": "/in", "action": "MOVE", "moveDirectory": "/done"}
    ctx = PollContext()

    events = trigger.evaluate(props, ctx)
    duplicate = trigger.evaluate(props, ctx)  # a second poll before the first committed

    assert len(events) == 1
    assert duplicate[0].key == events[0].key  # the database keeps one of the two
    kept: dict[str, bytes] = {}

    def store(path: Path, name: str) -> str:
        kept[name] = path.read_bytes()
        return f"kestra:///stored/{name}"

    attached = events[0].attach(store)
    assert attached["files"][0]["path"] == "kestra:///stored/a.csv"
    assert kept == {"a.csv": b"A"}
    events[0].done()
    duplicate[0].done()  # the other poll's callback finds nothing left to move
    assert (root / "done/a.csv").read_text() == "A"
    assert trigger.evaluate(props, ctx) == []


def test_trigger_none_starts_again_only_for_a_changed_file(server, loopback, tmp_path) -> None:
    protocol, root, conn = server
    (root / "in").mkdir()
    (root / "in/a.csv").write_text("A")
    trigger = registry.get(f"io.kestra.plugin.fs.{protocol}.Trigger")()
    props = {**conn, "from": "/in", "action": "NONE"}
    ctx = PollContext()

    first = trigger.evaluate(props, ctx)
    first[0].done()
    assert trigger.evaluate(props, ctx) == []
    (root / "in/a.csv").write_text("AB")
    assert len(trigger.evaluate(props, ctx)) == 1


@pytest.mark.parametrize("algorithm", ["ssh-ed25519", "ssh-rsa"])
def test_sftp_key_authentication(algorithm, loopback, tmp_path) -> None:
    asyncssh = pytest.importorskip("asyncssh")
    key = asyncssh.generate_private_key(algorithm)
    pem = key.export_private_key("openssh", passphrase="pp-77").decode()
    root = tmp_path / "remote"
    (root / "in").mkdir(parents=True)
    (root / "in/a.txt").write_text("A")
    with sftp_server(root, client_key=key) as port:
        conn = {"host": "127.0.0.1", "port": str(port), "username": USER,
                "keyfile": pem, "passphrase": "pp-77"}  # fmt: skip
        listed = task("sftp", "List").run({**conn, "from": "/in"}, FakeContext(tmp_path / "c"))
    assert [f["name"] for f in listed["files"]] == ["a.txt"]


def test_ftps_refuses_a_certificate_it_cannot_verify(loopback, tmp_path) -> None:
    root = tmp_path / "remote"
    root.mkdir()
    with ftp_server(root, tls=True) as port:
        conn = {"host": "127.0.0.1", "port": str(port), "username": USER, "password": PASSWORD}
        with pytest.raises(TaskFailed, match="TLS"):
            task("ftps", "List").run({**conn, "from": "/"}, FakeContext(tmp_path / "c"))
