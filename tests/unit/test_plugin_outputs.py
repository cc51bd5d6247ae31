"""Output declarations (kernel.plugin.Output) and the type reference generated from them.

Every runnable task and trigger of the catalogue must say what it returns, even when that is
nothing (``outputs = ()``, with a comment saying why), so a new type cannot be added without
its outputs reaching docs/plugins.md. A few representative types are run to check that what
``run`` returns is what they declare. DB-free and fast.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kernel import plugin_docs
from kernel.plugin import (
    FlowableTask,
    Output,
    PluginType,
    RunnableTask,
    TriggerType,
    declared_outputs,
)
from kernel.plugin_schema import json_schema
from kernel.registry import registry
from plugins.jdbc.query import Queries, Query
from plugins.serdes.csv_tasks import CsvToIon, IonToCsv
from tests.unit.fake_context import FakeContext

#: Families whose types must declare their outputs (entry-point names, or their prefix
#: before a dot). messaging is written in parallel; its outputs come with it.
CHECKED = {
    "amqp",
    "mqtt",
    "nats",
    "redis",
    "core",
    "jdbc",
    "serdes",
    "notifications",
    "fs",
    "s3",
    "git",
    "dbt",
    "openai",
    "scripts",
    "scripts_node",
    "http",
}


def _family(cls: type[PluginType]) -> str:
    source = registry.source_of(cls)
    return source.name.split(".", 1)[0] if source is not None else ""


DECLARING = sorted(
    (
        cls
        for cls in registry.all().values()
        if issubclass(cls, (RunnableTask, TriggerType)) and _family(cls) in CHECKED
    ),
    key=lambda c: c.type,
)


def _declared_explicitly(cls: type[PluginType]) -> bool:
    """Some class of the plugin's own (not the kernel's defaults) sets ``outputs``."""
    return any("outputs" in vars(k) for k in cls.__mro__ if not k.__module__.startswith("kernel."))


def test_the_catalogue_is_all_there() -> None:
    families = {_family(c) for c in DECLARING}
    assert families >= CHECKED - {"scripts_node"}
    assert len(DECLARING) > 100


@pytest.mark.parametrize("cls", DECLARING, ids=lambda c: c.type)
def test_every_runnable_and_trigger_type_declares_its_outputs(cls) -> None:
    assert _declared_explicitly(cls), (
        f"{cls.type} declares no `outputs`: list what run() returns (kernel.plugin.Output), "
        "or set `outputs = ()` with a comment saying why it returns nothing"
    )
    outputs = declared_outputs(cls)
    assert all(isinstance(o, Output) for o in outputs)
    names = [o.name for o in outputs]
    assert len(names) == len(set(names)), f"{cls.type}: an output is declared twice"
    assert all(o.name and o.description for o in outputs)


def test_declared_outputs_reads_flowables_apart_from_their_method() -> None:
    class Block(FlowableTask):
        type = "test.Block"
        declared_outputs = (Output("value", "The branch taken.", "string"),)

    class Task(RunnableTask):
        type = "test.Task"

    assert [o.name for o in declared_outputs(Block)] == ["value"]
    assert declared_outputs(Task) == ()


# -- what run() returns is what is declared ---------------------------------------------------


def _names(cls: type[PluginType]) -> set[str]:
    return {o.name for o in declared_outputs(cls)}


@pytest.fixture
def ctx(tmp_path: Path) -> FakeContext:
    return FakeContext(tmp_path / "ctx")


def test_core_values_and_log_return_what_they_declare(ctx) -> None:
    log, ret, values = (registry.get(f"io.kestra.plugin.core.{n}") for n in (
        "log.Log", "debug.Return", "output.OutputValues"
    ))  # fmt: skip

    assert log().run({"message": "hi", "level": "INFO"}, ctx) == {}
    assert declared_outputs(log) == ()
    assert set(ret().run({"format": "x"}, ctx)) <= _names(ret) == {"value"}
    assert set(values().run({"values": {"a": 1}}, ctx)) <= _names(values) == {"values"}


@pytest.mark.parametrize("fetch", ["FETCH_ONE", "FETCH", "STORE", "NONE"])
def test_jdbc_query_on_sqlite_returns_declared_keys(ctx, tmp_path: Path, fetch: str) -> None:
    pytest.importorskip("sqlalchemy")

    url = f"jdbc:sqlite:{tmp_path / 'data.db'}"
    Queries().run(
        {"url": url, "sql": "CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2)"}, ctx
    )

    out = Query().run({"url": url, "sql": "SELECT n FROM t", "fetchType": fetch}, ctx)
    many = Queries().run({"url": url, "sql": "SELECT n FROM t", "fetchType": fetch}, ctx)

    assert out or fetch == "NONE"  # NONE fetches nothing from a SELECT
    assert set(out) <= _names(Query)
    assert set(many) <= _names(Queries)
    for entry in many["outputs"]:
        assert set(entry) <= _names(Query)


def test_serdes_conversions_return_declared_keys(ctx) -> None:
    pytest.importorskip("amazon.ion")

    source = ctx.working_dir / "in.csv"
    source.write_text("id,name\n1,Ada\n", encoding="utf-8")
    uri = ctx.put_file(source, "in.csv")

    to_ion = CsvToIon().run({"from": uri}, ctx)
    back = IonToCsv().run({"from": to_ion["uri"]}, ctx)

    assert set(to_ion) <= _names(CsvToIon)
    assert set(back) <= _names(IonToCsv)


# -- the generated reference -------------------------------------------------------------------


def test_docs_plugins_md_is_what_the_classes_say() -> None:
    """CI fails here when a type, property or output changed without
    `trellis plugins docs --write` being run."""
    out = io.StringIO()
    call_command("plugins", "docs", "--check", stdout=out)
    assert "up to date" in out.getvalue()


def test_check_fails_and_write_fixes_a_drifted_file(tmp_path: Path) -> None:
    doc = tmp_path / "plugins.md"
    doc.write_text("# Plugin families\n\nProse written by hand.\n", encoding="utf-8")

    with pytest.raises(CommandError) as failed:
        call_command("plugins", "docs", "--check", "--file", str(doc), stdout=io.StringIO())
    assert failed.value.returncode == 1

    call_command("plugins", "docs", "--write", "--file", str(doc), stdout=io.StringIO())
    text = doc.read_text(encoding="utf-8")
    assert text.startswith("# Plugin families\n\nProse written by hand.\n\n")
    assert plugin_docs.HEADING in text
    assert text.rstrip().endswith(plugin_docs.END)
    call_command("plugins", "docs", "--check", "--file", str(doc), stdout=io.StringIO())

    # Only the part between the markers is rewritten; a second write changes nothing.
    edited = text.replace("#### `trellis.core.log.Log`", "#### `stale`")
    doc.write_text(edited + "\nTrailing prose.\n", encoding="utf-8")
    call_command("plugins", "docs", "--write", "--file", str(doc), stdout=io.StringIO())
    assert doc.read_text(encoding="utf-8") == text + "\nTrailing prose.\n"


def test_a_type_without_declared_outputs_shows_a_dash() -> None:
    class Quiet(RunnableTask):
        type = "test.Quiet"

    class Ping(TriggerType):
        type = "test.Ping"
        outputs = (Output("date", "When | it fired.", "string"),)

    quiet = "\n".join(plugin_docs.render_type(Quiet))
    ping = "\n".join(plugin_docs.render_type(Ping))

    assert "Outputs: —" in quiet
    assert "Properties: —" in quiet
    assert "Trigger variables (`trigger.<name>`)" in ping
    assert "| `date` | string | When \\| it fired. |" in ping


def test_the_json_schema_lists_declared_outputs() -> None:
    schema = json_schema(registry.get("io.kestra.plugin.core.debug.Return"))
    log = json_schema(registry.get("io.kestra.plugin.core.log.Log"))

    assert schema["x-outputs"] == [
        {"name": "value", "kind": "any", "description": "The rendered `format`."}
    ]
    assert "x-outputs" not in log
