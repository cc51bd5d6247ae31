"""`server web` with DEBUG off, as the image runs it: gunicorn answers, the admin's CSS and
the Swagger UI's scripts are served by WhiteNoise after collectstatic, the health endpoint
answers, and SIGTERM stops it."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.integration.harness import ROOT

pytestmark = pytest.mark.integration


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_production_web_role_serves_static_files(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1", "TRELLIS_ENCRYPTION_KEY": secrets.token_hex(16),
        "TRELLIS_SSL_REDIRECT": "false", "TRELLIS_STATIC_ROOT": str(tmp_path / "static"),
        "TRELLIS_ENV_FILE": "", "WEB_CONCURRENCY": "1",
    }  # fmt: skip
    manage = [sys.executable, "-m", "orchestrator.cli"]
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env,
                   check=True, timeout=300)  # fmt: skip
    web = subprocess.Popen(
        [*manage, "server", "web", "--port", str(port)], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status = get(base + "/health/live")[0]
                break
            except OSError:
                assert web.poll() is None, web.stdout.read().decode()
                assert time.monotonic() < deadline, "the web role did not answer"
                time.sleep(0.3)
        assert status == 200
        status, _, page = get(base + "/admin/login/")
        assert status == 200
        (css, *_) = re.findall(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', page.decode())
        status, kind, _ = get(base + css)  # the hashed name: far-future cacheable
        assert (status, kind.split(";")[0]) == (200, "text/css")
        status, _, page = get(base + "/api/v1/docs/")
        scripts = re.findall(r'src="(/static/[^"]+\.js)"', page.decode())
        assert status == 200
        assert scripts
        assert all(get(base + src)[0] == 200 for src in scripts)
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        output = web.communicate(timeout=30)[0].decode()
    assert "gunicorn" in output.lower() or "Booting worker" in output, output
