"""The layers hold (issue 16): `make lint` fails on a framework import in the kernel, on an
app import in a plugin, on a plugin family importing another, and on a cycle hidden inside
functions.

Each probe writes a throwaway module into the source tree, runs the same checks `make lint`
runs, and removes the module whatever happens.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")

pytestmark = pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="import-linter not installed")


@contextmanager
def probe(package: str, source: str) -> Iterator[str]:
    name = f"_layer_probe_{uuid.uuid4().hex[:8]}"
    path = ROOT.joinpath(*package.split(".")) / f"{name}.py"
    path.write_text(source)
    try:
        yield f"{package}.{name}"
    finally:
        path.unlink(missing_ok=True)


def lint_imports() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def cycles() -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "tools/import_cycles.py"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_the_tree_keeps_every_contract_and_has_no_cycle() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout
    assert cycles().returncode == 0


def test_importing_django_in_the_kernel_breaks_the_kernels_contract() -> None:
    with probe("kernel", "def f():\n    import django.conf\n") as module:
        result = lint_imports()
    assert result.returncode != 0
    assert "The kernel imports no framework and no app BROKEN" in result.stdout
    assert module in result.stdout


def test_a_plugin_importing_an_app_breaks_the_plugins_contract() -> None:
    with probe("plugins", "from executions.models import Execution\n") as module:
        result = lint_imports()
    assert result.returncode != 0
    assert "Plugins import the kernel, never a framework or an app BROKEN" in result.stdout
    assert module in result.stdout


def test_a_plugin_family_importing_another_breaks_the_families_contract() -> None:
    with probe("plugins.messaging", "from plugins.jdbc import common\n") as module:
        result = lint_imports()
    assert result.returncode != 0
    assert "Plugin families do not import each other BROKEN" in result.stdout
    assert f"{module} -> plugins.jdbc.common" in result.stdout


def test_the_shared_plugin_helpers_belong_to_no_family() -> None:
    with probe("plugins.messaging", "from plugins._shared import guard\n"):
        result = lint_imports()
    assert result.returncode == 0, result.stdout


def test_a_cycle_hidden_inside_functions_is_found() -> None:
    with (
        probe("kernel", "def f():\n    from kernel import clock\n") as first,
        probe("kernel", "") as second,
    ):
        other = second.rsplit(".", 1)[1]
        (ROOT / "kernel" / f"{first.rsplit('.', 1)[1]}.py").write_text(
            f"def f():\n    from kernel import {other}\n"
        )
        (ROOT / "kernel" / f"{other}.py").write_text(
            f"def g():\n    from kernel import {first.rsplit('.', 1)[1]}\n"
        )
        result = cycles()
    assert result.returncode == 1
    assert first in result.stdout
    assert second in result.stdout
