"""A real third-party distribution, written to a temporary folder, whose ``trellis.plugins``
entry points hold a broken plugin, two plugins claiming one name, a plugin needing a
library that is not installed, and a healthy one. ``importlib.metadata`` finds it as it
finds any installed package (a ``.dist-info`` folder on ``sys.path``), so the registry loads
it exactly as it loads Trellis's own plugins.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from kernel.registry import Registry, registry

MODULES = {
    # Fails to import: a library that is not there. Its declared names are read from source.
    "acme_broken": """
        import trellis_test_library_that_is_not_installed  # noqa: F401

        from kernel.plugin import RunnableTask

        class Thing(RunnableTask):
            type = "acme.broken.Thing"
            aliases = ("io.kestra.plugin.acme.Thing",)

        PLUGINS = [Thing]
    """,
    # Both claim acme.Shared; each keeps its own other name.
    "acme_one": """
        from kernel.plugin import RunnableTask

        class One(RunnableTask):
            type = "acme.one.One"
            aliases = ("acme.Shared",)

            def run(self, props, ctx):
                return {"who": "one"}

        PLUGINS = [One]
    """,
    "acme_two": """
        from kernel.plugin import RunnableTask

        class Two(RunnableTask):
            type = "acme.Shared"

        PLUGINS = [Two]
    """,
    # Healthy, with a task needing an optional library that is missing.
    "acme_ok": """
        from kernel.plugin import Prop, RunnableTask

        class Hello(RunnableTask):
            type = "acme.ok.Hello"
            properties = (Prop("name", required=True),)

            def run(self, props, ctx):
                return {"greeting": f"hello {props['name']}"}

        class Needy(RunnableTask):
            type = "acme.ok.Needy"
            extra = "acme"
            requires = ("trellis_test_optional_library_missing",)

        PLUGINS = [Hello, Needy]
    """,
}
ENTRY_POINTS = """\
[trellis.plugins]
acme-broken = acme_broken
acme-one = acme_one
acme-two = acme_two
acme-ok = acme_ok
"""


def write_distribution(folder: Path) -> None:
    for name, source in MODULES.items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source).lstrip())
    info = folder / "acme_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)


@pytest.fixture(name="acme")
def acme_registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """The process-wide registry, emptied and loaded again with the acme distribution
    installed beside Trellis's own plugins; restored afterwards."""
    write_distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    for attr, value in vars(Registry()).items():
        monkeypatch.setattr(registry, attr, value)
    yield registry
    for name in MODULES:
        sys.modules.pop(name, None)
