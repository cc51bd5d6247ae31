"""Kestra's task runners on script tasks: Process runs locally; Docker needs a configured
Docker Engine and otherwise fails clearly (or falls back to Process when allowed).

There is no Docker daemon on this machine: the Engine API calls are checked against a fake
Engine HTTP server of the test's own, which only proves the *shape* of the requests (paths,
queries, bodies, headers) and the reading of the answers, not that a real daemon accepts
them."""

from __future__ import annotations

import base64
import io
import json
import socketserver
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from kernel.plugin import TaskFailed
from plugins.scripts import docker, shell
from plugins.scripts import python as py
from tests.unit.fake_context import FakeContext

DOCKER = "io.kestra.plugin.scripts.runner.docker.Docker"
PROCESS = "io.kestra.plugin.core.runner.Process"


def frame(stream: int, text: str) -> bytes:
    data = text.encode()
    return struct.pack(">BxxxI", stream, len(data)) + data


class _UnixHTTPServer(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


class FakeEngine:
    """Answers the Engine API calls a script run makes, and records them."""

    def __init__(
        self, exit_code: int = 0, has_image: bool = False, unix_path: str | None = None
    ) -> None:
        self.requests: list[dict[str, Any]] = []
        self.exit_code, self.has_image = exit_code, has_image
        self.release = threading.Event()
        self.release.set()
        self.logs = frame(1, "hello from the container\n") + frame(
            1, '::{"outputs":{"answer":42}}::\n'
        ) + frame(2, "a warn") + frame(2, "ing\n")  # fmt: skip
        engine = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any = None, raw: bytes | None = None) -> None:
                data = (
                    raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
                )
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                engine.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": json.loads(raw) if raw else None,
                    }
                )
                path = self.path.split("?")[0].removeprefix("/v1.41")
                if path.startswith("/images/") and path.endswith("/json"):
                    return self._answer(
                        200 if engine.has_image else 404, {"message": "no such image"}
                    )
                if path == "/images/create":
                    return self._answer(200, raw=b'{"status":"Pulling"}\n{"status":"Done"}\n')
                if path == "/containers/create":
                    return self._answer(201, {"Id": "c0ffee", "Warnings": []})
                if path.endswith("/start") or self.command == "DELETE":
                    return self._answer(204)
                if path.endswith("/logs"):
                    engine.release.wait(10)  # a running container: the stream stays open
                    return self._answer(200, raw=engine.logs)
                if path.endswith("/kill"):
                    engine.release.set()
                    return self._answer(204)
                if path.endswith("/wait"):
                    return self._answer(200, {"StatusCode": engine.exit_code})
                return self._answer(404, {"message": f"unexpected {path}"})

            do_GET = do_POST = do_DELETE = _handle

        if unix_path is None:
            self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.url = f"tcp://127.0.0.1:{self.server.server_address[1]}"
        else:  # the daemon's usual endpoint: a unix socket
            self.server = _UnixHTTPServer(unix_path, Handler)
            self.url = f"unix://{unix_path}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def calls(self) -> list[str]:
        return [
            f"{r['method']} {r['path'].split('?')[0].removeprefix('/v1.41')}" for r in self.requests
        ]

    def find(self, suffix: str) -> dict[str, Any]:
        return next(r for r in self.requests if r["path"].split("?")[0].endswith(suffix))


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeEngine]:
    fake = FakeEngine()
    monkeypatch.setenv(docker.HOST_SETTING, fake.url)
    yield fake
    fake.server.shutdown()


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path)


def test_docker_without_an_engine_fails_with_a_clear_message(ctx, monkeypatch) -> None:
    monkeypatch.delenv(docker.HOST_SETTING, raising=False)
    monkeypatch.delenv(docker.FALLBACK_SETTING, raising=False)
    with pytest.raises(TaskFailed) as info:
        shell.Commands().run({"commands": ["echo hi"], "taskRunner": {"type": DOCKER}}, ctx)
    message = str(info.value)
    assert "no Docker Engine is configured" in message
    assert "TRELLIS_DOCKER_HOST" in message
    assert "TRELLIS_DOCKER_FALLBACK=process" in message
    assert ctx.logger.lines("INFO") == []  # nothing ran


def test_the_fallback_runs_docker_tasks_as_local_processes(ctx, monkeypatch) -> None:
    monkeypatch.delenv(docker.HOST_SETTING, raising=False)
    monkeypatch.setenv(docker.FALLBACK_SETTING, "process")
    out = shell.Commands().run(
        {"commands": ["echo hi"], "taskRunner": {"type": DOCKER}, "containerImage": "ubuntu"}, ctx
    )
    assert out["exitCode"] == 0
    assert "hi" in ctx.logger.lines("INFO")
    assert any("runs as a local process" in m for m in ctx.logger.lines("WARNING"))


def test_the_process_runner_runs_as_today(ctx) -> None:
    out = shell.Commands().run({"commands": ["echo hi"], "taskRunner": {"type": PROCESS}}, ctx)
    assert out["exitCode"] == 0
    assert ctx.logger.lines("INFO") == ["hi"]


def test_a_script_runs_in_a_container_through_the_engine_api(ctx, engine) -> None:
    out = py.Script().run(
        {
            "script": "print('hello')",
            "containerImage": "python:3.12-slim",
            "dependencies": ["six"],
            "env": {"GREETING": "hi"},
            "taskRunner": {
                "type": DOCKER,
                "pullPolicy": "IF_NOT_PRESENT",
                "credentials": {"username": "u", "password": "p", "registry": "r.example"},
                "user": "1000",
                "cpu": {"cpus": 1.5},
                "memory": {"memory": "512MB"},
                "networkMode": "none",
            },
        },
        ctx,
    )
    assert engine.calls() == [
        "GET /images/python:3.12-slim/json",
        "POST /images/create",
        "POST /containers/create",
        "POST /containers/c0ffee/start",
        "GET /containers/c0ffee/logs",
        "POST /containers/c0ffee/wait",
        "DELETE /containers/c0ffee",
    ]
    pull = engine.find("/images/create")
    assert "fromImage=python" in pull["path"]
    assert "tag=3.12-slim" in pull["path"]
    auth = json.loads(base64.urlsafe_b64decode(pull["headers"]["X-Registry-Auth"]))
    assert auth == {"username": "u", "password": "p", "serveraddress": "r.example"}
    spec = engine.find("/containers/create")["body"]
    work = str(ctx.working_dir)
    assert spec["Image"] == "python:3.12-slim"
    assert spec["WorkingDir"] == work
    assert spec["HostConfig"]["Binds"] == [f"{work}:{work}"]
    assert spec["HostConfig"]["NetworkMode"] == "none"
    assert spec["HostConfig"]["NanoCpus"] == 1_500_000_000
    assert spec["HostConfig"]["Memory"] == 512 * 1024**2
    assert spec["User"] == "1000"
    assert spec["Entrypoint"] == [""]
    assert spec["Cmd"][:2] == ["/bin/sh", "-c"]
    lines = spec["Cmd"][2].splitlines()
    assert lines[0] == "set -e"
    assert lines[1] == "python -m pip install --quiet --disable-pip-version-check six"
    assert lines[2].startswith("python script_")
    assert lines[2].endswith(".py")
    env = dict(item.split("=", 1) for item in spec["Env"])
    assert env["GREETING"] == "hi"
    assert env["WORKING_DIR"] == work
    assert "PATH" not in env  # the worker's PATH means nothing in the image
    assert "delete" not in engine.find("/logs")["path"]
    assert "follow=1" in engine.find("/logs")["path"]
    assert engine.find("/containers/c0ffee")["path"].endswith("?force=1")
    # The container's logs become the task's: stdout as INFO, stderr as ERROR, outputs as vars.
    assert out["vars"] == {"answer": 42}
    assert ctx.logger.lines("INFO") == ["hello from the container"]
    assert ctx.logger.lines("ERROR") == ["a warning"]
    assert out["stdErrLineCount"] == 1


def test_an_image_already_there_is_not_pulled_and_a_failing_container_fails(ctx, engine) -> None:
    engine.has_image, engine.exit_code = True, 3
    with pytest.raises(TaskFailed, match="exit code 3"):
        shell.Commands().run(
            {"commands": ["false"], "containerImage": "alpine:3", "taskRunner": {"type": DOCKER}},
            ctx,
        )
    assert "POST /images/create" not in engine.calls()
    assert engine.calls()[-1] == "DELETE /containers/c0ffee"  # removed even on failure


def test_a_flow_cannot_pick_the_daemon_or_mount_the_host(ctx, engine) -> None:
    runner = {"type": DOCKER, "volumes": ["/:/host"]}
    assert shell.Commands.validate({"commands": ["x"], "taskRunner": runner}) == [
        ("taskRunner", "taskRunner.volumes is not allowed (host access on the daemon)")
    ]
    with pytest.raises(TaskFailed, match="volumes is not allowed"):
        shell.Commands().run({"commands": ["x"], "containerImage": "a", "taskRunner": runner}, ctx)
    assert engine.requests == []
    shell.Commands().run(
        {
            "commands": ["x"],
            "containerImage": "alpine",
            "taskRunner": {"type": DOCKER, "host": "tcp://elsewhere:2375"},
        },
        ctx,
    )
    assert any("taskRunner.host is ignored" in m for m in ctx.logger.lines("WARNING"))


def test_unknown_runners_and_pull_policies_are_refused_at_deploy() -> None:
    problems = shell.Commands.validate(
        {
            "commands": ["x"],
            "taskRunner": {"type": "io.kestra.plugin.ee.kubernetes.runner.Kubernetes"},
        }
    )
    assert problems
    assert "is not supported" in problems[0][1]
    problems = shell.Commands.validate(
        {"commands": ["x"], "taskRunner": {"type": DOCKER, "pullPolicy": "SOMETIMES"}}
    )
    assert problems == [
        ("taskRunner", "taskRunner.pullPolicy must be one of IF_NOT_PRESENT, ALWAYS, NEVER")
    ]


def test_log_frames_split_into_lines_across_frames() -> None:
    got: list[tuple[str, str]] = []
    data = frame(1, "one\ntw") + frame(2, "err\n") + frame(1, "o\nlast")
    docker.read_frames(io.BytesIO(data), lambda n, t: got.append((n, t)))
    assert got == [("stdout", "one"), ("stderr", "err"), ("stdout", "two"), ("stdout", "last")]


def test_image_names_split_into_repository_and_tag() -> None:
    assert docker.split_image("python:3.12") == ("python", "3.12")
    assert docker.split_image("registry:5000/team/app") == ("registry:5000/team/app", "latest")
    assert docker.split_image("registry:5000/app:1.2") == ("registry:5000/app", "1.2")


def test_the_engine_is_reached_over_a_unix_socket(tmp_path: Path, monkeypatch) -> None:
    fake = FakeEngine(has_image=True, unix_path=str(tmp_path / "docker.sock"))
    monkeypatch.setenv(docker.HOST_SETTING, fake.url)
    try:
        ctx = FakeContext(tmp_path)
        out = shell.Commands().run(
            {"commands": ["echo hi"], "containerImage": "alpine", "taskRunner": {"type": DOCKER}},
            ctx,
        )
    finally:
        fake.server.shutdown()
    assert out["vars"] == {"answer": 42}
    assert fake.calls()[0] == "GET /images/alpine/json"


def test_a_kill_kills_the_container_and_removes_it(ctx, engine) -> None:
    engine.release.clear()  # the container runs until killed
    threading.Timer(0.5, lambda: setattr(ctx, "stop", True)).start()
    with pytest.raises(TaskFailed, match="killed"):
        shell.Commands().run(
            {"commands": ["sleep 60"], "containerImage": "alpine", "taskRunner": {"type": DOCKER}},
            ctx,
        )
    assert "POST /containers/c0ffee/kill" in engine.calls()
    assert engine.calls()[-1] == "DELETE /containers/c0ffee"
