"""Node.js Script and Commands run with the worker's ``node`` (skipped where there is none)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kernel.registry import registry
from plugins.scripts import node
from tests.unit.fake_context import FakeContext

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def test_kestra_names_resolve() -> None:
    assert registry.get("io.kestra.plugin.scripts.node.Script") is node.Script
    assert registry.get("io.kestra.plugin.scripts.node.Commands") is node.Commands


def test_an_inline_script_prints_outputs(tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    out = node.Script().run(
        {
            "script": "console.log('hi');\n"
            "console.log(`::${JSON.stringify({outputs: {total: 1 + 2}})}::`);"
        },
        ctx,
    )
    assert out["vars"] == {"total": 3}
    assert ctx.logger.lines("INFO") == ["hi"]


def test_commands_run_input_files(tmp_path: Path) -> None:
    ctx = FakeContext(tmp_path)
    out = node.Commands().run(
        {
            "inputFiles": {"main.js": "require('fs').writeFileSync('out.txt', 'done');"},
            "commands": ["node main.js"],
            "outputFiles": ["out.txt"],
        },
        ctx,
    )
    assert list(out["outputFiles"]) == ["out.txt"]
