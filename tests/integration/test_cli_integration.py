"""The command line against real workers: ``flow run --wait`` and ``server local``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from flows.services import flow_deploy
from tests.integration.harness import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def test_flow_run_wait_follows_to_the_end(workers) -> None:
    flow_deploy(
        source="id: cli-wait\nnamespace: it.cli\ntasks:\n  - id: hi\n"
        "    type: io.kestra.plugin.core.log.Log\n    message: hello from the cli\n"
    )
    out = StringIO()
    call_command("flow", "run", "it.cli", "cli-wait", "--wait", stdout=out)
    text = out.getvalue()
    assert "hello from the cli" in text
    assert "SUCCESS" in text.splitlines()[-1]


def test_flow_run_wait_exits_1_on_failure(workers) -> None:
    flow_deploy(
        source="id: cli-fail\nnamespace: it.cli\ntasks:\n  - id: boom\n"
        "    type: io.kestra.plugin.core.execution.Fail\n"
    )
    with pytest.raises(CommandError, match="ended FAILED") as err:
        call_command("flow", "run", "it.cli", "cli-fail", "--wait", stdout=StringIO())
    assert err.value.returncode == 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=False)
def test_server_local_runs_everything_and_stops_cleanly(tmp_path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env["TRELLIS_HOME"] = str(tmp_path / "home")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "server", "local", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/admin/login/") as page:
                    if page.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        else:
            pytest.fail("the admin never answered")
        run = subprocess.run(
            [sys.executable, "manage.py", "flow", "run", "trellis.examples", "hello", "--wait"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert "SUCCESS" in run.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=60)
    assert f"Trellis is running: open http://127.0.0.1:{port}/admin/" in output
    assert "log in as admin / " in output
    assert "Trellis stopped." in output
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path / "home")], capture_output=True)
    assert leftovers.stdout == b""
