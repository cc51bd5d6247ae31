"""``DbtCLI``: dbt commands run like Python ``Commands``, in a cached environment holding
dbt-core and the adapter the profile needs.

The flow gives ``profiles`` (the text of a ``profiles.yml``, or a map), written into the
working directory, which becomes ``DBT_PROFILES_DIR``; the project comes from
``namespaceFiles``, ``inputFiles`` or an earlier Git clone, and ``projectDir`` names its
folder inside the working directory: as in Kestra, each line starting with ``dbt`` gets
``--project-dir <projectDir>`` unless it has one, and lines run from the working directory
(a relative DuckDB ``path`` in the profile is relative to it). ``dependencies`` default to ``dbt-core`` 1.x plus
``dbt-<type>`` for the type of the profile's target (``dbt-duckdb``, ``dbt-postgres``...), so
a flow written for Kestra's dbt image runs unchanged; they are installed once per set into the
shared cache of :mod:`plugins.scripts.deps`. After the commands, ``target/run_results.json``
and ``target/manifest.json`` are kept as output files when dbt wrote them; ``storeManifest``
and ``loadManifest`` (``{key, namespace}``) save the manifest into the KV store after a run
and put it back into ``target/`` before one (dbt's ``--defer --state``).

This is the pattern for wrapping any CLI (terraform, ansible): a :class:`ScriptTask` whose
``command_lines`` are the tool's commands, whose ``runtime`` provides the tool, and whose
``run`` writes the tool's configuration from properties first (docs/plugins.md).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import yaml

from kernel.plugin import Prop, RunContext, TaskFailed, TaskResult
from plugins.scripts.files import as_lines, inside
from plugins.scripts.process import COMMON_PROPS, Runtime, ScriptTask
from plugins.scripts.python import PYTHON_PROPS, python_runtime, validate_dependencies

LOG_FORMATS = ("JSON", "TEXT", "DEBUG", "NONE")
#: Kept from ``target/`` after a run, when present (Kestra parses and stores these).
RESULT_FILES = ("run_results.json", "manifest.json")


def profile_adapters(profiles: Any) -> list[str]:
    """The adapter types (``duckdb``, ``postgres``...) a profiles document's targets use."""
    if isinstance(profiles, str):
        try:
            profiles = yaml.safe_load(profiles)
        except yaml.YAMLError:
            return []
    found: set[str] = set()
    if isinstance(profiles, Mapping):
        for profile in profiles.values():
            outputs = profile.get("outputs") if isinstance(profile, Mapping) else None
            for output in (outputs or {}).values() if isinstance(outputs, Mapping) else ():
                if isinstance(output, Mapping) and output.get("type"):
                    found.add(str(output["type"]).strip().lower())
    return sorted(found)


#: dbt-core 1.x: the Python dbt that Kestra's DbtCLI drives (2.x is another engine, whose
#: package fetches binaries from outside the package index at install time).
DBT_CORE = "dbt-core>=1.8,<2"


def default_dependencies(profiles: Any) -> list[str]:
    """dbt-core plus one adapter package per target type of the profile."""
    return [DBT_CORE, *(f"dbt-{adapter}" for adapter in profile_adapters(profiles))]


class DbtCLI(ScriptTask):
    """Run dbt commands (``dbt deps``, ``dbt build``...) with the profile given in the flow."""

    type = "trellis.dbt.cli.DbtCLI"
    aliases = ("io.kestra.plugin.dbt.cli.DbtCLI",)
    default_image = "ghcr.io/kestra-io/dbt"
    properties: ClassVar = (
        Prop("commands", "list", required=True, items="string", description="dbt lines to run."),
        Prop(
            "profiles",
            "any",
            description="The content of profiles.yml (text or map), written into the working "
            "directory, which is DBT_PROFILES_DIR.",
        ),
        Prop(
            "projectDir",
            "string",
            description="Folder of the dbt project inside the working directory (default: the "
            "working directory itself).",
        ),
        Prop("parseRunResults", "boolean", default=True, description="Keep run_results.json."),
        Prop(
            "storeManifest",
            "map",
            description="`{key, namespace}`: target/manifest.json saved into the KV store.",
        ),
        Prop(
            "loadManifest",
            "map",
            description="`{key, namespace}`: a manifest from the KV store written to "
            "target/manifest.json before the commands (a warning when there is none).",
        ),
        Prop(
            "logFormat",
            "string",
            choices=LOG_FORMATS,
            description="Adds `--log-format <value>` to dbt lines when set (not NONE); unset, "
            "dbt's own text format is logged as it is.",
        ),
        Prop(
            "engine",
            "string",
            choices=("CORE", "FUSION"),
            default="CORE",
            description="CORE only: dbt-core 1.x is installed; FUSION is refused.",
        ),  # fmt: skip
        Prop("alertWebhook", "map", description="Accepted and ignored (no per-line alerts)."),
        *COMMON_PROPS,
        *PYTHON_PROPS,
    )
    examples = (
        """id: dbt_duckdb
namespace: trellis.examples
tasks:
  - id: dbt
    type: io.kestra.plugin.dbt.cli.DbtCLI
    taskRunner:
      type: io.kestra.plugin.core.runner.Process
    namespaceFiles:
      enabled: true
    profiles: |
      my_project:
        target: dev
        outputs:
          dev:
            type: duckdb
            path: dbt.duckdb
    commands:
      - dbt deps
      - dbt build
""",
    )

    @classmethod
    def validate(cls, props: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = [*super().validate(props), *validate_dependencies(props)]
        project = props.get("projectDir")
        if isinstance(project, str) and (project.startswith("/") or ".." in Path(project).parts):
            problems.append(("projectDir", "must be a relative folder inside the working dir"))
        return problems

    def runtime(self, props: dict[str, Any], ctx: RunContext, kind: str) -> Runtime:
        return python_runtime(props, ctx, kind, default_dependencies(props.get("profiles")))

    def extra_env(self, props: dict[str, Any], ctx: RunContext) -> dict[str, str]:
        return {"DBT_PROFILES_DIR": str(ctx.working_dir)}

    def command_lines(
        self, props: dict[str, Any], ctx: RunContext, runtime: Runtime | None = None
    ) -> list[str]:
        project = str(props.get("projectDir") or "").strip()
        log_format = str(props.get("logFormat") or "NONE").upper()
        lines = []
        for line in as_lines(props.get("commands")):
            if line.strip().startswith("dbt "):
                if project and "--project-dir" not in line:
                    line += f" --project-dir {shlex.quote(project)}"
                if log_format != "NONE" and "--log-format" not in line:
                    line += f" --log-format {log_format.lower()}"
            lines.append(line)
        return lines

    @staticmethod
    def _project_dir(props: dict[str, Any], ctx: RunContext) -> Path:
        name = str(props.get("projectDir") or "").strip()
        folder = ctx.working_dir / name if name else ctx.working_dir
        if Path(name).is_absolute() or not inside(ctx.working_dir, folder):
            raise TaskFailed(f"projectDir {name!r} is outside the working directory")
        return folder

    def run(self, props: dict[str, Any], ctx: RunContext) -> dict[str, Any] | TaskResult:
        if str(props.get("engine") or "CORE").upper() != "CORE":
            raise TaskFailed("engine FUSION is not supported: Trellis installs dbt-core 1.x")
        if props.get("alertWebhook"):
            ctx.logger.warning("alertWebhook is ignored: Trellis sends no per-line dbt alerts")
        profiles = props.get("profiles")
        if profiles:
            text = profiles if isinstance(profiles, str) else yaml.safe_dump(dict(profiles))
            (ctx.working_dir / "profiles.yml").write_text(text, encoding="utf-8")
        target = self._project_dir(props, ctx) / "target"
        self._load_manifest(props.get("loadManifest"), ctx, target)
        result = super().run(props, ctx)
        outputs = result.outputs if isinstance(result, TaskResult) else result
        keep = RESULT_FILES if props.get("parseRunResults") is not False else RESULT_FILES[1:]
        for name in keep:
            if (target / name).is_file():
                outputs["outputFiles"][name] = ctx.put_file(target / name, name)
        self._store_manifest(props.get("storeManifest"), ctx, target / "manifest.json")
        return result

    @staticmethod
    def _kv(spec: Any, ctx: RunContext) -> tuple[Any, str, str] | None:
        if not isinstance(spec, Mapping) or not spec.get("key"):
            return None
        store = getattr(ctx, "kv", None)
        if store is None:
            raise TaskFailed("storeManifest/loadManifest: this worker has no KV store")
        return store, str(spec.get("namespace") or ctx.namespace), str(spec["key"])

    def _load_manifest(self, spec: Any, ctx: RunContext, target: Path) -> None:
        found = self._kv(spec, ctx)
        if found is None:
            return
        store, namespace, key = found
        try:
            value = store.get(namespace, key)
        except (KeyError, LookupError, ValueError):
            value = None
        if value is None:
            ctx.logger.warning(f"loadManifest: no manifest at {namespace}/{key}")
            return
        target.mkdir(parents=True, exist_ok=True)
        text = value if isinstance(value, str) else json.dumps(value)
        (target / "manifest.json").write_text(text, encoding="utf-8")

    def _store_manifest(self, spec: Any, ctx: RunContext, manifest: Path) -> None:
        found = self._kv(spec, ctx)
        if found is None or not manifest.is_file():
            return
        store, namespace, key = found
        try:
            store.set(namespace, key, json.loads(manifest.read_text(encoding="utf-8")))
        except ValueError as exc:
            raise TaskFailed(f"storeManifest: {exc}") from exc


PLUGINS = [DbtCLI]
