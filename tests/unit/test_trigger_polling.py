"""Polling trigger plugins without a database: the local file trigger's claims (also under
racing processes) and state, and the HTTP trigger against a real local server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kernel.expressions.render import evaluate
from kernel.spec.parse import parse_flow
from plugins.core import fs_trigger
from plugins.core.fs_trigger import CLAIM_DIR, LocalFileTrigger
from plugins.core.http_trigger import HttpTrigger

ROOT = Path(__file__).resolve().parents[2]


class _Quiet:
    def __getattr__(self, name: str):  # noqa: ANN204 - debug/info/warning/error/trace
        return lambda msg: None


@dataclass
class Ctx:
    namespace: str = "t.poll"
    flow_id: str = "inbox"
    trigger_id: str = "watch"
    poll_id: str = "p1"
    now: datetime = datetime(2025, 1, 1, tzinfo=UTC)
    state: dict[str, Any] = field(default_factory=dict)
    logger: Any = field(default_factory=_Quiet)

    def render(self, value: Any, extra: Mapping[str, Any] | None = None) -> Any:
        return evaluate(value, dict(extra or {}))


def drop(folder: Path, count: int, prefix: str = "f") -> list[str]:
    names = [f"{prefix}{i:03d}.csv" for i in range(count)]
    for name in names:
        (folder / name).write_text(name)
    return names


def finish(events) -> None:  # noqa: ANN001 - what the driver does after each commit
    for event in events:
        event.done()


@pytest.fixture
def folders(tmp_path) -> tuple[Path, Path]:
    inbox, done = tmp_path / "inbox", tmp_path / "done"
    inbox.mkdir()
    return inbox, done


def move_props(inbox: Path, done: Path, **extra: Any) -> dict[str, Any]:
    return {"from": str(inbox), "action": "MOVE", "moveDirectory": str(done), **extra}


def test_move_claims_each_file_once_then_moves_it(folders) -> None:
    inbox, done = folders
    drop(inbox, 3)
    (inbox / ".partial.csv").write_text("still uploading")
    events = LocalFileTrigger().evaluate(move_props(inbox, done), Ctx())
    assert [e.variables["file"]["name"] for e in events] == ["f000.csv", "f001.csv", "f002.csv"]
    assert len({e.key for e in events}) == 3
    file = events[0].variables["file"]
    assert file["path"] == str(inbox / "f000.csv")
    assert file["localPath"] == str(done / "f000.csv")
    assert file["size"] == 8
    assert events[0].variables["files"] == [file]
    assert sorted(p.name for p in inbox.iterdir()) == [".partial.csv", CLAIM_DIR]
    assert LocalFileTrigger().evaluate(move_props(inbox, done), Ctx()) == []  # claimed already
    finish(events)
    assert sorted(p.name for p in done.iterdir()) == ["f000.csv", "f001.csv", "f002.csv"]


def test_attach_copies_the_claimed_file_and_delete_removes_it(folders) -> None:
    inbox, _ = folders
    drop(inbox, 1)
    [event] = LocalFileTrigger().evaluate({"from": str(inbox), "action": "DELETE"}, Ctx())
    stored: dict[str, bytes] = {}

    def store(path: Path, name: str) -> str:
        stored[name] = path.read_bytes()
        return f"kestra:///t/poll/{name}"

    added = event.attach(store)
    assert added["file"]["uri"] == "kestra:///t/poll/f000.csv"
    assert added["files"] == [added["file"]]
    assert stored == {"f000.csv": b"f000.csv"}
    event.done()
    assert not any(p.is_file() for p in inbox.rglob("*"))


def test_pattern_regexp_max_files_and_recursive(folders) -> None:
    inbox, done = folders
    drop(inbox, 4)
    (inbox / "notes.txt").write_text("x")
    (inbox / "sub").mkdir()
    (inbox / "sub" / "deep.csv").write_text("x")
    flat = LocalFileTrigger().evaluate(
        {"from": str(inbox), "pattern": "*.csv", "maxFiles": 2}, Ctx()
    )
    assert [e.variables["file"]["name"] for e in flat] == ["f000.csv", "f001.csv"]
    deep = LocalFileTrigger().evaluate(
        {"from": str(inbox), "regExp": r".*/sub/.*", "recursive": True}, Ctx()
    )
    assert [e.variables["file"]["path"] for e in deep] == [str(inbox / "sub" / "deep.csv")]


def test_action_none_remembers_versions_between_polls(folders) -> None:
    inbox, _ = folders
    drop(inbox, 2)
    ctx = Ctx()
    first = LocalFileTrigger().evaluate({"from": str(inbox)}, ctx)
    assert len(first) == 2
    finish(first[:1])  # the second one failed to start: it stays unseen
    again = LocalFileTrigger().evaluate({"from": str(inbox)}, ctx)
    assert [e.key for e in again] == [first[1].key]
    finish(again)
    assert LocalFileTrigger().evaluate({"from": str(inbox)}, ctx) == []
    os.utime(inbox / "f000.csv", ns=(1, 10**18))  # changed: starts again, with a new key
    [changed] = LocalFileTrigger().evaluate({"from": str(inbox)}, ctx)
    assert changed.variables["file"]["name"] == "f000.csv"
    assert changed.key != first[0].key
    (inbox / "f001.csv").unlink()
    finish([changed])
    LocalFileTrigger().evaluate({"from": str(inbox)}, ctx)
    assert set(ctx.state["seen"]) == {"f000.csv"}  # a removed file is forgotten


def test_a_claim_whose_poller_died_is_taken_over_with_the_same_key(folders, monkeypatch) -> None:
    inbox, done = folders
    drop(inbox, 1)
    [lost] = LocalFileTrigger().evaluate(move_props(inbox, done), Ctx())  # never finished
    assert LocalFileTrigger().evaluate(move_props(inbox, done), Ctx()) == []  # still young
    monkeypatch.setattr(fs_trigger, "ORPHAN_SECONDS", -1.0)
    [again] = LocalFileTrigger().evaluate(move_props(inbox, done), Ctx())
    assert again.key == lost.key
    again.done()
    lost.done()  # the first poller coming back late does no harm
    assert [p.name for p in done.iterdir()] == ["f000.csv"]


def test_decline_puts_the_file_back(folders) -> None:
    inbox, done = folders
    drop(inbox, 1)
    [event] = LocalFileTrigger().evaluate(move_props(inbox, done), Ctx())
    event.decline()
    assert (inbox / "f000.csv").read_text() == "f000.csv"
    assert list((inbox / CLAIM_DIR).rglob("*.csv")) == []


#: One racing poller, as its own Python process: waits for the start signal, then polls three
#: times, finishing each event as the runtime would, and prints what it claimed.
RACER = """
import json, pathlib, sys, time
from plugins.core.fs_trigger import LocalFileTrigger

class Ctx:
    namespace, flow_id, trigger_id, poll_id, state = "t.poll", "inbox", "watch", "p", {}

inbox, done, go = sys.argv[1:4]
while not pathlib.Path(go).exists():
    time.sleep(0.001)
props = {"from": inbox, "action": "MOVE", "moveDirectory": done, "maxFiles": 1000}
claimed = []
for _ in range(3):
    events = LocalFileTrigger().evaluate(props, Ctx())
    claimed += [(e.key, e.variables["file"]["name"]) for e in events]
    for event in events:
        event.done()
print(json.dumps(claimed))
"""


def test_racing_processes_claim_each_file_exactly_once(folders, tmp_path) -> None:
    inbox, done = folders
    names = drop(inbox, 100)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(inbox), str(done), str(go)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for _ in range(4)
    ]
    time.sleep(0.5)  # all four started and waiting
    go.touch()
    claimed = []
    for racer in racers:
        out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
        claimed += [tuple(item) for item in json.loads(out)]
    assert sorted(name for _, name in claimed) == names  # each file once, none lost
    assert len({key for key, _ in claimed}) == 100
    assert sorted(p.name for p in done.iterdir()) == names


def test_file_trigger_validation() -> None:
    assert LocalFileTrigger.validate({"from": "inbox", "action": "MOVE"}) == [
        ("from", "`from` must be an absolute path, got 'inbox'"),
        ("moveDirectory", "`action: MOVE` needs a `moveDirectory`"),
    ]
    assert LocalFileTrigger.validate({"from": "/in", "regExp": "("})[0][0] == "regExp"
    assert LocalFileTrigger.validate({"from": "{{ vars.dir }}", "maxFiles": 3}) == []


def test_allowed_paths_limit_where_the_trigger_reads(folders, monkeypatch) -> None:
    inbox, _ = folders
    monkeypatch.setenv(fs_trigger.ALLOWED_ENV, str(inbox.parent / "elsewhere"))
    with pytest.raises(PermissionError, match="outside TRELLIS_FS_ALLOWED_PATHS"):
        LocalFileTrigger().evaluate({"from": str(inbox)}, Ctx())
    monkeypatch.setenv(fs_trigger.ALLOWED_ENV, str(inbox.parent))
    assert LocalFileTrigger().evaluate({"from": str(inbox)}, Ctx()) == []


@pytest.mark.parametrize("cls", [LocalFileTrigger, HttpTrigger])
def test_every_polling_trigger_example_is_a_valid_flow(cls) -> None:
    for example in cls.examples:
        assert parse_flow(example).triggers[0].type == cls.type


# -- HTTP --------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    answers: dict[str, tuple[int, str]] = {}
    seen: list[dict[str, Any]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.seen.append({"method": self.command, "path": self.path, "body": body,
                          "auth": self.headers.get("Authorization")})  # fmt: skip
        code, text = self.answers.get(self.path, (404, "nothing here"))
        payload = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("X-Stock", "12")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _answer  # noqa: N815

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def server(settings) -> Iterator[str]:
    settings.TRELLIS_HTTP_ALLOW = "loopback"  # the HTTP task's host policy applies here too
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.seen.clear()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_http_trigger_fires_when_the_response_condition_holds(server) -> None:
    _Handler.answers = {"/price": (200, json.dumps({"price": 99}))}
    props = {
        "uri": f"{server}/price",
        "responseCondition": "{{ json(response.body).price <= 100 }}",
        "headers": {"Authorization": "Bearer t"},
    }
    [event] = HttpTrigger().evaluate(props, Ctx(poll_id="poll-7"))
    assert event.key == "poll:poll-7"
    assert event.variables["code"] == 200
    assert json.loads(event.variables["body"]) == {"price": 99}
    assert event.variables["headers"]["x-stock"] == ["12"]
    assert event.variables["uri"] == f"{server}/price"
    assert _Handler.seen[-1]["auth"] == "Bearer t"
    _Handler.answers = {"/price": (200, json.dumps({"price": 150}))}
    assert HttpTrigger().evaluate(props, Ctx()) == []


def test_http_trigger_default_condition_refuses_error_statuses(server) -> None:
    assert HttpTrigger().evaluate({"uri": f"{server}/missing"}, Ctx()) == []
    props = {"uri": f"{server}/missing", "responseCondition": "{{ response.statusCode == 404 }}"}
    [event] = HttpTrigger().evaluate(props, Ctx())
    assert event.variables["body"] == "nothing here"


def test_http_trigger_sends_method_and_json_body(server) -> None:
    _Handler.answers = {"/hook": (200, "{}")}
    props = {"uri": f"{server}/hook", "method": "POST", "body": {"q": 1}}
    assert len(HttpTrigger().evaluate(props, Ctx())) == 1
    assert (_Handler.seen[-1]["method"], _Handler.seen[-1]["body"]) == ("POST", '{"q": 1}')


def test_http_trigger_unreachable_or_not_http_raises(settings) -> None:
    settings.TRELLIS_HTTP_ALLOW = "loopback"
    with pytest.raises(ValueError, match="http:// or https://"):
        HttpTrigger().evaluate({"uri": "file:///etc/passwd"}, Ctx())
    with pytest.raises(ConnectionRefusedError):
        HttpTrigger().evaluate(
            {"uri": "http://127.0.0.1:9/", "options": {"connectTimeout": "PT1S"}}, Ctx()
        )
    assert HttpTrigger.validate({"uri": "ftp://x"}) == [
        ("uri", "`uri` must be an http:// or https:// URL, got 'ftp://x'")
    ]


def test_http_trigger_obeys_the_http_host_policy(server, settings) -> None:
    _Handler.answers = {"/ok": (200, "{}")}
    settings.TRELLIS_HTTP_ALLOW = ""
    with pytest.raises(OSError, match="loopback address"):
        HttpTrigger().evaluate({"uri": f"{server}/ok"}, Ctx())
    with pytest.raises(OSError, match="cloud metadata"):
        HttpTrigger().evaluate({"uri": "http://169.254.169.254/latest/meta-data/"}, Ctx())
    assert _Handler.seen == []  # nothing was sent
