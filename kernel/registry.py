"""Type name -> plugin class. Fails loudly, with a did-you-mean, on unknown names.

Every plugin, built-in or third-party, registers the same way: an entry point of the
``trellis.plugins`` group names a module whose ``PLUGINS`` list holds the classes (Trellis's
own are declared in its pyproject.toml). Kestra's type names are aliases declared on each class.

A broken plugin stays local: a module that fails to import, or a type name claimed by two
classes, becomes a *load problem* (:class:`LoadProblem`) on the names concerned. Looking one
of them up raises :class:`UnknownType` naming the plugin and its error, so a flow using it
fails validation with the reason while every other flow validates and runs.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import logging
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points

from kernel.plugin import PluginType, TriggerType, kestra_aliases

GROUP = "trellis.plugins"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PluginSource:
    """Where classes came from: one entry point of the ``trellis.plugins`` group."""

    #: The entry point's name: the plugin family as users see it (``core.log``, ``jdbc``).
    name: str
    #: The module the entry point names (``plugins.core.log``).
    module: str
    #: The installed distribution declaring the entry point (``trellis``), when known.
    distribution: str | None = None
    version: str | None = None

    def label(self) -> str:
        return f"plugin {self.name!r} ({self.module})"


@dataclass(frozen=True)
class LoadProblem:
    """A plugin that did not load, or type names that two plugins claim."""

    #: The plugin concerned; for a clash, the one whose class came second.
    source: PluginSource
    #: ``ImportError: no module named 'x'``, or the clash described.
    error: str
    #: ``import`` (the whole module is lost) or ``clash`` (only ``names`` are).
    kind: str = "import"
    #: For a clash, the names claimed twice; for a failed import, the type names its source
    #: declares as far as reading it without running it tells (maybe none).
    names: tuple[str, ...] = ()
    #: For a clash, the plugin that claimed the names first.
    other: PluginSource | None = None

    def as_dict(self) -> dict[str, object]:
        """Plain data for the CLI's ``--json`` and the API."""
        return {
            "kind": self.kind,
            "plugin": self.source.name,
            "module": self.source.module,
            "distribution": self.source.distribution,
            "error": self.error,
            "names": list(self.names),
            "otherPlugin": self.other.name if self.other else None,
            "otherModule": self.other.module if self.other else None,
        }


class UnknownType(LookupError):
    """No plugin provides this type name (or the plugin that would did not load)."""

    def __init__(
        self,
        name: str,
        suggestions: list[str],
        problems: tuple[LoadProblem, ...] = (),
        message: str | None = None,
    ) -> None:
        self.name, self.suggestions, self.problems = name, suggestions, problems
        if message is None:
            hint = f"; did you mean {suggestions[0]!r}?" if suggestions else ""
            message = f"unknown type {name!r}{hint}"
            failed = [p for p in problems if p.kind == "import"]
            if failed:
                listed = "; ".join(f"{p.source.label()}: {p.error}" for p in failed)
                message += f" (plugins that failed to load, whose types are unknown: {listed})"
        super().__init__(message)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _source_of(ep: EntryPoint) -> PluginSource:
    dist = getattr(ep, "dist", None)
    return PluginSource(
        name=ep.name,
        module=ep.value,
        distribution=dist.metadata["Name"] if dist is not None else None,
        version=dist.version if dist is not None else None,
    )


def declared_names(module: str) -> tuple[str, ...]:
    """Type names a module's source declares (``type = "..."``, string ``aliases``), read
    with :mod:`ast` without running it: how a failed plugin's flows are told apart from
    flows with a plain typo. Best effort; any trouble gives ()."""
    try:
        spec = importlib.util.find_spec(module.split(":", 1)[0])
        origin = spec.origin if spec is not None else None
        if not origin or not origin.endswith(".py"):
            return ()
        with open(origin, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
    except Exception:  # noqa: BLE001 - a parent package that fails to import, say
        return ()
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else []
            if isinstance(stmt, ast.AnnAssign):
                targets = [stmt.target]
            if any(isinstance(t, ast.Name) and t.id in ("type", "aliases") for t in targets):
                names += _literal_names(stmt.value)
    return tuple(dict.fromkeys(names))


def _literal_names(node: ast.expr | None) -> list[str]:
    """Strings of a literal name, tuple of names or ``kestra_aliases("suffix")`` call."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List)):
        return [name for item in node.elts for name in _literal_names(item)]
    if isinstance(node, ast.Starred):
        return _literal_names(node.value)
    if isinstance(node, ast.BinOp):
        return _literal_names(node.left) + _literal_names(node.right)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "kestra_aliases":
        args = [a.value for a in node.args if isinstance(a, ast.Constant)]
        if args and isinstance(args[0], str):
            return list(kestra_aliases(args[0]))
    return []


def _importable(module: str) -> bool:
    """Whether ``module`` can be imported, asked each time (cheap: an imported module is
    found in ``sys.modules``), so installing a family's extra needs no restart."""
    try:
        return importlib.util.find_spec(module) is not None
    except Exception:  # noqa: BLE001 - find_spec imports parents, which may fail
        return False


def missing_requirement(cls: type[PluginType]) -> str | None:
    """Why a type cannot be used here: one of its ``requires`` modules is not importable
    (its optional dependency is not installed)."""
    for module in getattr(cls, "requires", ()):
        if not _importable(module):
            extra = getattr(cls, "extra", None)
            fix = f"pip install 'trellis[{extra}]'" if extra else f"pip install {module}"
            return (
                f"type {cls.type!r} needs the Python module {module!r}, which is not "
                f"installed; install it with: {fix}"
            )
    return None


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, type[PluginType]] = {}
        self._source: dict[type[PluginType], PluginSource] = {}
        #: Name -> the clash problem that blocks it.
        self._clashed: dict[str, LoadProblem] = {}
        self._problems: list[LoadProblem] = []
        #: Every entry point seen, loaded or not, in discovery order.
        self._sources: list[PluginSource] = []
        self._loaded = False

    # -- registration -------------------------------------------------------------------------

    def register(
        self, cls: type[PluginType], source: PluginSource | None = None
    ) -> type[PluginType]:
        """Add a class; a name another class already claims resolves to neither afterwards
        and is recorded as a clash (never raised: one plugin must not break the others)."""
        if source is not None:
            self._source.setdefault(cls, source)
        clashes: dict[type[PluginType], list[str]] = {}
        for name in (cls.type, *cls.aliases):
            if name in self._clashed:
                continue
            existing = self._by_name.get(name)
            if existing is not None and existing is not cls:
                clashes.setdefault(existing, []).append(name)
                del self._by_name[name]
                continue
            self._by_name[name] = cls
        for existing, names in clashes.items():
            first, second = self._source.get(existing), self._source.get(cls)
            problem = LoadProblem(
                source=second or PluginSource(cls.__module__, cls.__module__),
                other=first or PluginSource(existing.__module__, existing.__module__),
                kind="clash",
                names=tuple(names),
                error=(
                    f"type name{'s' if len(names) > 1 else ''} "
                    f"{', '.join(map(repr, names))} claimed by both "
                    f"{existing.__module__}.{existing.__qualname__} "
                    f"({(first.label() if first else 'registered directly')}) and "
                    f"{cls.__module__}.{cls.__qualname__} "
                    f"({(second.label() if second else 'registered directly')})"
                ),
            )
            self._problems.append(problem)
            for name in names:
                self._clashed[name] = problem
        return cls

    def load_entry_point(self, ep: EntryPoint) -> None:
        """Import one plugin module and register its ``PLUGINS``; any failure is recorded."""
        source = _source_of(ep)
        self._sources.append(source)
        try:
            module = ep.load()
            classes = list(getattr(module, "PLUGINS", ()))
            bad = [c for c in classes if not (isinstance(c, type) and issubclass(c, PluginType))]
            if bad:
                raise TypeError(f"PLUGINS holds non-plugin objects: {bad!r}")
        except Exception as exc:  # noqa: BLE001 - any failure of a plugin stays its own
            self._problems.append(
                LoadProblem(source, _error_text(exc), names=declared_names(ep.value))
            )
            return
        for cls in classes:
            self.register(cls, source)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        seen: set[tuple[str, str]] = set()
        for ep in entry_points(group=GROUP):
            if (ep.name, ep.value) in seen:  # one distribution found twice on sys.path
                continue
            seen.add((ep.name, ep.value))
            self.load_entry_point(ep)
        if not seen:  # a source tree never installed: say why every type is unknown
            self._problems.append(
                LoadProblem(
                    PluginSource("trellis", "plugins"),
                    f"no entry point of the {GROUP!r} group is installed; install Trellis "
                    "(pip install -e .) so its plugins register",
                )
            )
        for problem in self._problems:  # once per process: the operator's first clue
            log.warning("plugin load problem: %s (%s)", problem.error, problem.source.label())

    # -- questions ----------------------------------------------------------------------------

    def get(self, name: str) -> type[PluginType]:
        self._load()
        found = self._by_name.get(name)
        if found is not None:
            return found
        clash = self._clashed.get(name)
        if clash is not None:
            raise UnknownType(
                name, [], (clash,), message=f"type {name!r} cannot be used: {clash.error}"
            )
        for problem in self._problems:
            if problem.kind == "import" and name in problem.names:
                raise UnknownType(
                    name,
                    [],
                    (problem,),
                    message=(
                        f"type {name!r} comes from {problem.source.label()}, which failed to "
                        f"load: {problem.error}"
                    ),
                )
        raise UnknownType(name, self.suggest(name), tuple(self._problems))

    def suggest(self, name: str) -> list[str]:
        self._load()
        names = list(self._by_name)
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        if not close:
            short = name.rsplit(".", 1)[-1].lower()
            close = [n for n in names if n.rsplit(".", 1)[-1].lower() == short][:3]
        return close

    def all(self) -> dict[str, type[PluginType]]:
        """Canonical name -> class, one entry per plugin whose canonical name resolves."""
        self._load()
        return {
            cls.type: cls for cls in self._by_name.values() if self._by_name.get(cls.type) is cls
        }

    def trigger_class(self, name: str) -> type[TriggerType] | None:
        """The trigger type of this name, or None (unknown, broken, or not a trigger)."""
        try:
            cls = self.get(name)
        except UnknownType:
            return None
        return cls if issubclass(cls, TriggerType) else None

    def trigger_kind(self, name: str) -> str:
        """``schedule``, ``flow``, ``webhook``, ``polling``, ``realtime``, or "" when the
        name is no trigger type the runtime fires."""
        cls = self.trigger_class(name)
        return cls.trigger_kind if cls is not None else ""

    def trigger_types(self, kind: str) -> tuple[str, ...]:
        """Canonical names of the trigger types of one kind (what ``TriggerState.type`` holds,
        for database filters)."""
        return tuple(
            sorted(
                name
                for name, cls in self.all().items()
                if issubclass(cls, TriggerType) and cls.trigger_kind == kind
            )
        )

    def recorded_type(self, name: str) -> str:
        """The name an execution records as its ``trigger.type`` (Kestra's when declared)."""
        cls = self.trigger_class(name)
        return (cls.recorded_type or name) if cls is not None else name

    def recorded_types(self) -> frozenset[str]:
        """Every declared ``recorded_type``: how an execution started by a trigger is known."""
        return frozenset(
            cls.recorded_type
            for cls in self.all().values()
            if issubclass(cls, TriggerType) and cls.recorded_type
        )

    def source_of(self, cls: type[PluginType]) -> PluginSource | None:
        """The entry point a class came from (None for one registered directly)."""
        self._load()
        return self._source.get(cls)

    def problems(self) -> list[LoadProblem]:
        """Plugins that failed to import and names claimed twice, in discovery order."""
        self._load()
        return list(self._problems)

    def sources(self) -> list[PluginSource]:
        """Every entry point seen, loaded or not."""
        self._load()
        return list(self._sources)

    def families(self) -> list[dict[str, object]]:
        """One summary per entry point: its types, Kestra alias count, the extras and
        modules its types need, and its error if it failed. Plain data for the CLI and API."""
        self._load()
        by_source: dict[PluginSource, list[type[PluginType]]] = {s: [] for s in self._sources}
        for cls in dict.fromkeys(self._by_name.values()):
            src = self._source.get(cls)
            if src is not None:
                by_source.setdefault(src, []).append(cls)
        failed = {p.source: p.error for p in self._problems if p.kind == "import"}
        out = []
        for src, classes in by_source.items():
            classes = sorted(classes, key=lambda c: c.type)
            out.append(
                {
                    "name": src.name,
                    "module": src.module,
                    "distribution": src.distribution,
                    "version": src.version,
                    "types": [c.type for c in classes],
                    "aliases": sum(len(c.aliases) for c in classes),
                    "extras": sorted({e for c in classes if (e := getattr(c, "extra", None))}),
                    "requires": sorted({m for c in classes for m in getattr(c, "requires", ())}),
                    "missing": sorted(
                        {
                            m
                            for c in classes
                            for m in getattr(c, "requires", ())
                            if not _importable(m)
                        }
                    ),
                    "error": failed.get(src),
                }
            )
        return out


registry = Registry()
