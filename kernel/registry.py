"""Type name -> plugin class. Fails loudly, with a did-you-mean, on unknown names.

Built-in plugins are listed in ``BUILTIN_MODULES``; third parties register classes through the
``trellis.plugins`` entry point group (each entry point names a module whose ``PLUGINS``
list holds the classes). Kestra's type names are aliases declared on each class.
"""

from __future__ import annotations

import difflib
import importlib
from importlib.metadata import entry_points

from kernel.plugin import PluginType

BUILTIN_MODULES: tuple[str, ...] = (
    "plugins.core.log",
    "plugins.core.values",
    "plugins.core.sleep",
    "plugins.core.fail",
    "plugins.core.fixture",
    "plugins.core.execution",
    "plugins.core.kv",
    "plugins.core.storage",
    "plugins.core.housekeeping",
    "plugins.core.flow.sequential",
    "plugins.core.flow.parallel",
    "plugins.core.flow.if_",
    "plugins.core.flow.switch",
    "plugins.core.flow.foreach",
    "plugins.core.flow.allow_failure",
    "plugins.core.flow.dag",
    "plugins.core.flow.wait_for",
    "plugins.core.flow.subflow",
    "plugins.core.flow.for_each_item",
    "plugins.core.flow.pause",
    "plugins.core.flow.template",
    "plugins.core.flow.working_directory",
    "plugins.scripts.shell",
    "plugins.scripts.python",
    "plugins.http.request",
    "plugins.http.download",
    "plugins.core.triggers",
    "plugins.core.fs_trigger",
    "plugins.core.http_trigger",
    "plugins.core.conditions",
)


class UnknownType(LookupError):
    """No plugin has this type name."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        self.name, self.suggestions = name, suggestions
        hint = f"; did you mean {suggestions[0]!r}?" if suggestions else ""
        super().__init__(f"unknown type {name!r}{hint}")


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, type[PluginType]] = {}
        self._loaded = False

    def register(self, cls: type[PluginType]) -> type[PluginType]:
        for name in (cls.type, *cls.aliases):
            existing = self._by_name.get(name)
            if existing is not None and existing is not cls:
                raise ValueError(f"type name {name!r} is claimed by {existing} and {cls}")
            self._by_name[name] = cls
        return cls

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for mod in BUILTIN_MODULES:
            try:
                module = importlib.import_module(mod)
            except ModuleNotFoundError as exc:  # a built-in not written yet
                if exc.name != mod:
                    raise
                continue
            for cls in getattr(module, "PLUGINS", ()):
                self.register(cls)
        for ep in entry_points(group="trellis.plugins"):
            for cls in getattr(ep.load(), "PLUGINS", ()):
                self.register(cls)

    def get(self, name: str) -> type[PluginType]:
        self._load()
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownType(name, self.suggest(name)) from None

    def suggest(self, name: str) -> list[str]:
        self._load()
        names = list(self._by_name)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        if not close:
            short = name.rsplit(".", 1)[-1].lower()
            close = [n for n in names if n.rsplit(".", 1)[-1].lower() == short][:3]
        return close

    def all(self) -> dict[str, type[PluginType]]:
        """Canonical name -> class, one entry per plugin."""
        self._load()
        return {cls.type: cls for cls in self._by_name.values()}


registry = Registry()
