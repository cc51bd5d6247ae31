"""Kestra's Docker task runner (``io.kestra.plugin.scripts.runner.docker.Docker``), spoken
straight to the Docker Engine HTTP API: no docker CLI and no client library needed.

Where the daemon is, is the operator's choice, never the flow's: ``TRELLIS_DOCKER_HOST``
(``unix:///var/run/docker.sock``, ``tcp://host:2375`` or ``http://host:2375``). A flow's
``taskRunner.host`` is ignored with a warning, since a flow choosing a daemon could start
containers on any machine the worker reaches. Without the setting a task asking for Docker
fails with a message saying so, unless ``TRELLIS_DOCKER_FALLBACK=process`` maps Docker to the
Process runner (a laptop without Docker).

One run: look the image up and pull it per ``pullPolicy``, create a container with the
task's working directory bound at the same path (so the daemon must share the worker's file
system: a local daemon), start it, follow its multiplexed log stream into the task log, wait
for its exit code, remove it. A kill or timeout kills the container. What a flow may not ask
for: ``volumes`` and ``privileged`` (host paths and root on the daemon's machine).
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import queue
import socket
import struct
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from kernel import config
from kernel.plugin import RunContext, TaskFailed

#: Endpoint of the Docker Engine API the workers use; unset: Docker is not available.
HOST_SETTING = "TRELLIS_DOCKER_HOST"
#: ``process``: run Docker tasks as local processes when no endpoint is configured.
FALLBACK_SETTING = "TRELLIS_DOCKER_FALLBACK"
API_VERSION = "v1.41"
PULL_POLICIES = ("IF_NOT_PRESENT", "ALWAYS", "NEVER")
KIND_NAMES = {
    "io.kestra.plugin.scripts.runner.docker.Docker": "docker",
    "io.kestra.plugin.core.runner.Process": "process",
    "io.kestra.core.models.tasks.runners.types.ProcessTaskRunner": "process",
}
REFUSED = ("volumes", "privileged")
POLL_SECONDS = 0.2


def _setting(name: str) -> str:
    return str(config.setting(name, "") or "")


def runner_kind(task_runner: Any) -> str:
    """``process`` or ``docker`` for a ``taskRunner`` map (no type: process)."""
    if not isinstance(task_runner, Mapping) or not task_runner.get("type"):
        return "process"
    name = str(task_runner["type"])
    if name in KIND_NAMES:
        return KIND_NAMES[name]
    if name.rsplit(".", 1)[-1] in {"Docker", "Process"}:
        return name.rsplit(".", 1)[-1].lower()
    raise TaskFailed(
        f"taskRunner {name!r} is not supported: use io.kestra.plugin.core.runner.Process or "
        "io.kestra.plugin.scripts.runner.docker.Docker"
    )


def validate_runner(task_runner: Any) -> list[str]:
    """Deploy-time problems of a ``taskRunner`` map."""
    if task_runner is None:
        return []
    if not isinstance(task_runner, Mapping):
        return ["taskRunner must be a map with a type"]
    try:
        kind = runner_kind(task_runner)
    except TaskFailed as exc:
        return [str(exc)]
    problems = []
    if kind == "docker":
        for name in REFUSED:
            if task_runner.get(name):
                problems.append(f"taskRunner.{name} is not allowed (host access on the daemon)")
        policy = task_runner.get("pullPolicy")
        if policy and "{{" not in str(policy) and str(policy) not in PULL_POLICIES:
            problems.append(f"taskRunner.pullPolicy must be one of {', '.join(PULL_POLICIES)}")
    return problems


def effective_kind(task_runner: Any, logger: Any) -> str:
    """The runner that will really run: Docker without an endpoint is an error, or Process
    when the operator allowed that fallback."""
    kind = runner_kind(task_runner)
    if kind != "docker" or _setting(HOST_SETTING).strip():
        return kind
    if _setting(FALLBACK_SETTING).strip().lower() == "process":
        logger.warning(
            f"taskRunner Docker runs as a local process: no {HOST_SETTING} is configured "
            f"and {FALLBACK_SETTING}=process"
        )
        return "process"
    raise TaskFailed(
        f"this task asks for the Docker task runner, but no Docker Engine is configured for "
        f"the workers: set {HOST_SETTING} (e.g. unix:///var/run/docker.sock), or set "
        f"{FALLBACK_SETTING}=process to run it as a local process, or use "
        "taskRunner: {type: io.kestra.plugin.core.runner.Process}"
    )


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None = None) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerClient:
    """The few Engine API calls a task run needs, over a unix socket or TCP."""

    def __init__(self, endpoint: str, timeout: float | None = 60.0) -> None:
        self.endpoint = endpoint.strip()
        self.timeout = timeout

    def _connection(self, timeout: float | None) -> http.client.HTTPConnection:
        parts = urllib.parse.urlsplit(self.endpoint)
        if parts.scheme == "unix":
            return _UnixConnection(parts.path or "/var/run/docker.sock", timeout)
        if parts.scheme in ("tcp", "http"):
            return http.client.HTTPConnection(parts.hostname or "localhost", parts.port or 2375,
                                              timeout=timeout)  # fmt: skip
        raise TaskFailed(
            f"{HOST_SETTING} must be unix://, tcp:// or http://, not {self.endpoint!r}"
        )

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        *,
        stream: bool = False,
        timeout: float | None | str = "default",
    ) -> tuple[int, Any]:
        """(status, parsed JSON body) or, with ``stream``, (status, open response)."""
        conn = self._connection(self.timeout if timeout == "default" else timeout)  # type: ignore[arg-type]
        data = None if body is None else json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        try:
            conn.request(method, f"/{API_VERSION}{path}", body=data, headers=all_headers)
            response = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise TaskFailed(f"cannot reach the Docker Engine at {self.endpoint}: {exc}") from None
        if stream and response.status < 300:
            return response.status, response
        raw = response.read()
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return response.status, parsed


def _error(status: int, body: Any) -> str:
    if isinstance(body, Mapping) and body.get("message"):
        return f"{status}: {body['message']}"
    return f"{status}: {body}"


def registry_auth(credentials: Any) -> str | None:
    """The X-Registry-Auth header for Kestra's ``credentials`` map, if any."""
    if not isinstance(credentials, Mapping) or not credentials:
        return None
    auth = {
        "username": credentials.get("username"),
        "password": credentials.get("password"),
        "serveraddress": credentials.get("registry"),
        "identitytoken": credentials.get("identityToken"),
        "registrytoken": credentials.get("registryToken"),
        "auth": credentials.get("auth"),
    }
    payload = json.dumps({k: v for k, v in auth.items() if v})
    return base64.urlsafe_b64encode(payload.encode()).decode()


def split_image(image: str) -> tuple[str, str]:
    """``repo[:tag]`` -> (repo, tag), a registry's port not taken for a tag."""
    if "@" in image:
        return image, ""
    name, _, tag = image.rpartition(":")
    if name and "/" not in tag:
        return name, tag
    return image, "latest"


def pull_if_needed(client: DockerClient, image: str, policy: str, auth: str | None) -> None:
    if policy not in PULL_POLICIES:
        raise TaskFailed(f"taskRunner.pullPolicy must be one of {', '.join(PULL_POLICIES)}")
    if policy != "ALWAYS":
        status, _ = client.request("GET", f"/images/{urllib.parse.quote(image, safe='/:@')}/json")
        if status == 200:
            return
        if policy == "NEVER":
            raise TaskFailed(f"image {image!r} is not on the Docker host and pullPolicy is NEVER")
    repo, tag = split_image(image)
    query = urllib.parse.urlencode({"fromImage": repo, **({"tag": tag} if tag else {})})
    headers = {"X-Registry-Auth": auth} if auth else {}
    status, body = client.request("POST", f"/images/create?{query}", headers=headers,
                                  timeout=None)  # fmt: skip
    # The pull answers 200 and reports errors inside its progress stream.
    lines = body if isinstance(body, list) else []
    text = body if isinstance(body, str) else ""
    failed = [m for m in text.splitlines() if '"error"' in m] + [
        str(m.get("error")) for m in lines if isinstance(m, Mapping) and m.get("error")
    ]
    if status >= 300 or failed:
        raise TaskFailed(
            f"pulling {image!r} failed: {failed[0] if failed else _error(status, body)}"
        )


def _bytes(value: Any) -> int | None:
    """``512MB``/``1g``/``1073741824`` -> bytes."""
    if value in (None, ""):
        return None
    text = str(value).strip().lower().removesuffix("b").removesuffix("i")
    units = {"k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
    if text and text[-1] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


def container_spec(
    image: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    working_dir: Path,
    runner: Mapping[str, Any],
) -> dict[str, Any]:
    """The body of ``POST /containers/create``."""
    work = str(working_dir)
    host: dict[str, Any] = {"Binds": [f"{work}:{work}"]}
    if runner.get("networkMode"):
        host["NetworkMode"] = str(runner["networkMode"])
    if runner.get("extraHosts"):
        host["ExtraHosts"] = [str(h) for h in runner["extraHosts"]]
    cpu = runner.get("cpu") or {}
    if isinstance(cpu, Mapping) and cpu.get("cpus"):
        host["NanoCpus"] = int(float(cpu["cpus"]) * 1e9)
    memory = runner.get("memory") or {}
    if isinstance(memory, Mapping) and memory.get("memory"):
        host["Memory"] = _bytes(memory["memory"])
    if runner.get("shmSize"):
        host["ShmSize"] = _bytes(runner["shmSize"])
    entry = runner.get("entryPoint")
    spec: dict[str, Any] = {
        "Image": image,
        "Cmd": list(argv),
        "Entrypoint": [str(e) for e in entry] if entry else [""],
        "Env": [f"{k}={v}" for k, v in env.items()],
        "WorkingDir": work,
        "Labels": {"trellis.task": "script"},
        "HostConfig": host,
        "AttachStdout": True,
        "AttachStderr": True,
        "Tty": False,
    }
    if runner.get("user"):
        spec["User"] = str(runner["user"])
    return spec


def read_frames(stream: Any, emit: Callable[[str, str], None]) -> None:
    """Split Docker's multiplexed log stream (8-byte headers: stream, 0, 0, 0, size) into
    lines for ``emit(stream_name, line)``."""
    pending = {"stdout": "", "stderr": ""}
    while True:
        header = stream.read(8)
        if not header or len(header) < 8:
            break
        kind, size = header[0], struct.unpack(">I", header[4:8])[0]
        payload = stream.read(size).decode("utf-8", errors="replace")
        name = "stderr" if kind == 2 else "stdout"
        text = pending[name] + payload
        *lines, pending[name] = text.split("\n")
        for line in lines:
            emit(name, line.rstrip("\r"))
    for name, rest in pending.items():
        if rest:
            emit(name, rest)


def run_container(
    ctx: RunContext,
    image: str,
    argv: Sequence[str],
    env: Mapping[str, str],
    runner: Mapping[str, Any],
    on_line: Callable[[str, str], None],
) -> int:
    """Run ``argv`` in ``image`` on the configured daemon; the container's exit code."""
    for name in REFUSED:
        if runner.get(name):
            raise TaskFailed(f"taskRunner.{name} is not allowed (host access on the daemon)")
    if runner.get("host"):
        ctx.logger.warning(f"taskRunner.host is ignored: workers use {HOST_SETTING}")
    client = DockerClient(_setting(HOST_SETTING))
    policy = str(runner.get("pullPolicy") or "IF_NOT_PRESENT")
    pull_if_needed(client, image, policy, registry_auth(runner.get("credentials")))
    spec = container_spec(image, argv, env, ctx.working_dir, runner)
    status, body = client.request("POST", "/containers/create", spec)
    if status >= 300:
        raise TaskFailed(f"creating the container failed: {_error(status, body)}")
    cid = str(body["Id"])
    ctx.logger.debug(f"container {cid[:12]} created from {image}")
    try:
        status, body = client.request("POST", f"/containers/{cid}/start")
        if status >= 300:
            raise TaskFailed(f"starting the container failed: {_error(status, body)}")
        lines: queue.Queue[tuple[str, str] | None] = queue.Queue()

        def follow() -> None:
            try:
                code, response = client.request(
                    "GET",
                    f"/containers/{cid}/logs?follow=1&stdout=1&stderr=1",
                    stream=True,
                    timeout=None,
                )
                if code < 300:
                    with contextlib.closing(response):
                        read_frames(response, lambda n, t: lines.put((n, t)))
            except (OSError, TaskFailed):
                pass
            finally:
                lines.put(None)

        threading.Thread(target=follow, daemon=True).start()
        while True:
            try:
                item = lines.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if ctx.should_stop():
                    client.request("POST", f"/containers/{cid}/kill")
                    raise TaskFailed("killed") from None
                continue
            if item is None:
                break
            on_line(*item)
        status, body = client.request("POST", f"/containers/{cid}/wait", timeout=None)
        if status >= 300 or not isinstance(body, Mapping):
            raise TaskFailed(f"waiting for the container failed: {_error(status, body)}")
        return int(body.get("StatusCode", -1))
    finally:
        if str(runner.get("delete", True)).lower() != "false":
            with contextlib.suppress(TaskFailed):
                client.request("DELETE", f"/containers/{cid}?force=1")
