"""Plugins register through the ``trellis.plugins`` entry points, built-in ones included, and
a broken or clashing plugin breaks only its own types (issue 16)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from kernel.plugin import TriggerType
from kernel.registry import GROUP, Registry, UnknownType, declared_names, registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow
from tests.unit.plugin_dist import acme_registry  # noqa: F401 - the `acme` fixture

ROOT = Path(__file__).resolve().parents[2]


def flow(task_type: str, extra: str = "") -> str:
    return f"id: f\nnamespace: acme.team\ntasks:\n  - id: t\n    type: {task_type}\n{extra}"


def problems_of(source: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_flow(source)
    return [p.message for p in caught.value.problems]


def test_every_built_in_module_is_an_entry_point_of_trellis_itself():
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"]
    modules = set(declared[GROUP].values())

    assert {"plugins.core.log", "plugins.core.flow.if_", "plugins.core.conditions"} <= modules
    fresh = Registry()
    assert fresh.problems() == []
    source = fresh.source_of(fresh.get("io.kestra.plugin.core.log.Log"))
    assert source is not None
    assert (source.name, source.module, source.distribution) == (
        "core.log",
        "plugins.core.log",
        "trellis",
    )


def test_a_plugin_that_fails_to_import_is_a_problem_of_its_own(acme):
    [failed] = [p for p in acme.problems() if p.kind == "import"]

    assert (failed.source.name, failed.source.module) == ("acme-broken", "acme_broken")
    assert failed.source.distribution == "acme-plugins"
    assert failed.error.startswith("ModuleNotFoundError: ")
    assert "acme.broken.Thing" in failed.names
    assert acme.get("acme.ok.Hello").type == "acme.ok.Hello"
    assert acme.get("io.kestra.plugin.core.log.Log").type == "trellis.core.log.Log"


def test_a_flow_using_the_broken_plugin_fails_validation_naming_it_and_its_error(acme):
    for name in ("acme.broken.Thing", "io.kestra.plugin.acme.Thing"):
        [message] = problems_of(flow(name))
        assert message.startswith(
            f"type {name!r} comes from plugin 'acme-broken' (acme_broken), which failed to "
            "load: ModuleNotFoundError: "
        )
        assert "trellis_test_library_that_is_not_installed" in message


def test_an_unknown_type_lists_the_plugins_that_failed_as_a_hint(acme):
    [message] = problems_of(flow("acme.ok.Helo", "    name: x\n"))

    assert message.startswith("unknown type 'acme.ok.Helo'; did you mean 'acme.ok.Hello'?")
    assert "plugins that failed to load" in message
    assert "plugin 'acme-broken' (acme_broken): ModuleNotFoundError" in message


def test_a_name_claimed_twice_resolves_to_neither_and_names_both_plugins(acme):
    [clash] = [p for p in acme.problems() if p.kind == "clash"]
    [message] = problems_of(flow("acme.Shared"))

    assert clash.names == ("acme.Shared",)
    assert {clash.source.name, clash.other.name} == {"acme-one", "acme-two"}
    assert message.startswith("type 'acme.Shared' cannot be used: type name 'acme.Shared'")
    assert "plugin 'acme-one' (acme_one)" in message
    assert "plugin 'acme-two' (acme_two)" in message
    # The rest of acme-one is untouched; acme-two's only name is lost, so it is not listed.
    assert acme.get("acme.one.One").type == "acme.one.One"
    assert "acme.one.One" in acme.all()
    assert "acme.Shared" not in acme.all()


def test_every_other_flow_still_validates(acme):
    spec = parse_flow(
        "id: f\nnamespace: acme.team\ntasks:\n"
        "  - id: hi\n    type: acme.ok.Hello\n    name: ana\n"
        "  - id: one\n    type: acme.one.One\n"
        "  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n"
    )
    assert [t.type for t in spec.tasks] == ["acme.ok.Hello", "acme.one.One", "trellis.core.log.Log"]


def test_a_type_whose_optional_library_is_missing_names_the_extra_to_install(acme):
    [message] = problems_of(flow("acme.ok.Needy"))

    assert "'trellis_test_optional_library_missing', which is not installed" in message
    assert message.endswith("install it with: pip install 'trellis[acme]'")


def test_families_summarise_each_entry_point(acme):
    families = {f["name"]: f for f in acme.families()}

    assert families["acme-ok"]["types"] == ["acme.ok.Hello", "acme.ok.Needy"]
    assert families["acme-ok"]["extras"] == ["acme"]
    assert families["acme-ok"]["missing"] == ["trellis_test_optional_library_missing"]
    assert families["acme-broken"]["types"] == []
    assert families["acme-broken"]["error"].startswith("ModuleNotFoundError")
    assert families["acme-two"]["types"] == []  # its one name clashed
    log = families["core.log"]
    assert "trellis.core.log.Log" in log["types"]
    assert log["aliases"] == sum(len(registry.get(t).aliases) for t in log["types"])
    assert log["distribution"] == "trellis"
    assert log["error"] is None


def test_declared_names_reads_a_module_without_running_it():
    names = declared_names("plugins.core.flow.sequential")

    assert "trellis.core.flow.Sequential" in names
    assert "io.kestra.plugin.core.flow.Sequential" in names  # from kestra_aliases(...)
    assert declared_names("no_such_module_anywhere") == ()


def test_registering_twice_the_same_class_is_no_clash():
    fresh = Registry()
    fresh._loaded = True
    cls = registry.get("trellis.core.log.Log")
    fresh.register(cls)
    fresh.register(cls)
    assert fresh.problems() == []
    assert fresh.get("trellis.core.log.Log") is cls


def test_an_unknown_type_without_broken_plugins_reads_as_before():
    fresh = Registry()
    with pytest.raises(UnknownType) as caught:
        fresh.get("trellis.core.log.Logg")
    assert (
        str(caught.value)
        == "unknown type 'trellis.core.log.Logg'; did you mean 'trellis.core.log.Log'?"
    )


def test_every_plugins_list_under_plugins_is_reachable_through_an_entry_point():
    """A module whose PLUGINS nobody declares would be skipped silently: each class listed
    in a PLUGINS list under plugins/ came from some entry point."""
    import importlib
    import pkgutil

    import plugins

    orphans = []
    for info in pkgutil.walk_packages(plugins.__path__, "plugins."):
        module = importlib.import_module(info.name)
        for cls in getattr(module, "PLUGINS", ()):
            if registry.source_of(cls) is None:
                orphans.append(f"{info.name}: {cls.__qualname__}")
    assert not orphans, 'declare these modules under [project.entry-points."trellis.plugins"]'


class Hook(TriggerType):
    type = "acme.hooks.Hook"
    aliases = ("io.kestra.plugin.acme.Hook",)
    trigger_kind = "webhook"
    recorded_type = "io.kestra.plugin.acme.Hook"


def test_trigger_kinds_and_recorded_names_come_from_the_classes():
    assert registry.trigger_types("schedule") == (
        "trellis.core.trigger.Schedule",
        "trellis.core.trigger.ScheduleOnDates",
    )
    assert registry.trigger_kind("io.kestra.plugin.core.trigger.Webhook") == "webhook"
    assert registry.trigger_kind("io.kestra.plugin.fs.local.Trigger") == "polling"
    assert registry.trigger_kind("trellis.core.log.Log") == ""
    assert registry.trigger_kind("no.such.Type") == ""
    flow_type = "trellis.core.trigger.Flow"
    assert registry.recorded_type(flow_type) == "io.kestra.plugin.core.trigger.Flow"
    on_dates = "trellis.core.trigger.ScheduleOnDates"
    assert registry.recorded_type(on_dates) == on_dates  # none declared: the canonical name

    fresh = Registry()
    fresh._loaded = True
    fresh.register(Hook)
    assert fresh.trigger_types("webhook") == ("acme.hooks.Hook",)
    assert fresh.recorded_types() == frozenset({"io.kestra.plugin.acme.Hook"})


def test_a_tree_never_installed_says_so_instead_of_failing_every_lookup(monkeypatch):
    import kernel.registry as registry_module

    monkeypatch.setattr(registry_module, "entry_points", lambda group: [])
    fresh = Registry()

    [problem] = fresh.problems()
    assert "pip install -e ." in problem.error
    with pytest.raises(UnknownType, match="no entry point of the 'trellis.plugins' group"):
        fresh.get("io.kestra.plugin.core.log.Log")
