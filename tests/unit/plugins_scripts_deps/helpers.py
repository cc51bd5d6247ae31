"""A pure-Python wheel made on the spot, so the real install tests need no package index; and
the probe telling whether one answers, for the tests that do need one."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def build_wheel(folder: Path, name: str = "trellis_probe_pkg", version: str = "1.0") -> Path:
    """Write ``<name>-<version>-py3-none-any.whl`` (one module whose VALUE is 42) into
    ``folder``; pip installs it with ``--no-index --find-links folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 42\n",
        f"{dist}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
        ).encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: trellis-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [_record_line(n, d) for n, d in files.items()] + [f"{dist}/RECORD,,"]
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        for entry, data in files.items():
            archive.writestr(entry, data)
    return path


def default_index_env() -> dict[str, str]:
    """pip with no configuration file and no find-links: the default index only, which is
    what a sandboxed install step reaches (it cannot see local indexes under /opt)."""
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull}
    env.pop("PIP_FIND_LINKS", None)
    return env


def index_answers(
    folder: Path, package: str, *, timeout: float = 60, no_cache: bool = False
) -> bool:
    """Whether the default package index serves ``package`` here (the real-install tests skip
    when it does not: a laptop offline)."""
    cache = ["--no-cache-dir"] if no_cache else []
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *cache,
             "-d", str(folder), package],
            capture_output=True, env=default_index_env(), timeout=timeout,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0
