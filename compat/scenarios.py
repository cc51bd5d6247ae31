"""The corpus as a list of scenarios, their inputs and their follow-up steps (pure).

``expectations.yaml`` (``../shared/kestra-corpus``) holds, per corpus flow, what Kestra's Java
tests assert. This module reads it into :class:`Scenario` objects, selects them, builds the
inputs a scenario starts with, and reads the natural-language ``steps`` into
:class:`Action` objects where they are machine-readable. What cannot be read is returned as
a reason, so the runner reports the scenario as not applicable instead of guessing.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Task types that exist only in Kestra's test classpath.
TEST_ONLY_TYPES = frozenset({"io.kestra.core.runners.ListenersTestTask"})


def default_corpus() -> Path:
    """``../shared/kestra-corpus`` from the project root (``TRELLIS_KESTRA_CORPUS`` wins)."""
    root = Path(__file__).resolve().parents[1]  # compat/ sits at the project root
    return Path(os.environ.get("TRELLIS_KESTRA_CORPUS", root.parent / "shared/kestra-corpus"))


@dataclass(frozen=True)
class Scenario:
    """One scenario of one corpus entry (an ``input_errors`` case is a scenario too)."""

    file: str
    name: str
    entry: Mapping[str, Any]
    spec: Mapping[str, Any]
    #: The extra corpus folder's name for scenarios not from Kestra's own corpus, else "".
    origin: str = ""

    @property
    def key(self) -> str:
        prefix = f"{self.origin}/" if self.origin else ""
        return f"{prefix}{self.file}:{self.name}"

    @property
    def category(self) -> str:
        return str(self.entry.get("category", ""))


@dataclass(frozen=True)
class Corpus:
    root: Path
    header: Mapping[str, Any]
    scenarios: list[Scenario]
    #: "" for Kestra's corpus; the folder name of an extra one.
    origin: str = ""

    def flow_files(self) -> list[Path]:
        """Every corpus flow file (``flows/`` then ``flows-synthetic/``), sorted."""
        found: list[Path] = []
        for folder in ("flows", "flows-synthetic"):
            path = self.root / folder
            if path.is_dir():
                found += sorted(p for p in path.iterdir() if p.suffix in (".yml", ".yaml"))
        return found

    def templates(self) -> list[Mapping[str, Any]]:
        """Templates the entries' ``setup`` declares (deployed before any scenario runs)."""
        return [
            t
            for s in {id(s.entry): s.entry for s in self.scenarios}.values()
            for t in (s.get("setup") or {}).get("templates") or ()
        ]


def flow_path(root: Path, file: str) -> Path:
    """Where a corpus ``file`` lives: a bare name is in ``flows/``."""
    return root / file if "/" in file else root / "flows" / file


def load_corpus(root: Path | None = None, *, origin: str = "") -> Corpus:
    """Read ``expectations.yaml``: every scenario of every entry, in file order.

    ``origin`` names an extra folder in the same format (its own ``flows/`` and
    ``expectations.yaml``) so its scenarios keep apart from Kestra's in reports.
    """
    root = root or default_corpus()
    path = root / "expectations.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"no expectations.yaml in {root}")
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    header = {k: v for k, v in doc.items() if k not in ("entries", "synthetic_entries")}
    scenarios: list[Scenario] = []
    for entry in [*(doc.get("synthetic_entries") or []), *(doc.get("entries") or [])]:
        for spec in entry.get("scenarios") or ():
            scenarios.append(Scenario(entry["file"], str(spec["name"]), entry, spec, origin))
        for i, case in enumerate(entry.get("input_errors") or ()):
            label = ",".join(str(k) for k in (case.get("override") or {})) or "api"
            spec = {"name": f"input-error-{i + 1}-{label}", "input_error": case}
            scenarios.append(Scenario(entry["file"], spec["name"], entry, spec, origin))
    return Corpus(root=root, header=header, scenarios=scenarios, origin=origin)


def select(scenarios: Iterable[Scenario], text: str | None) -> list[Scenario]:
    """Scenarios whose ``file:name`` or category contains ``text`` (case-insensitive)."""
    if not text:
        return list(scenarios)
    needle = text.lower()
    return [s for s in scenarios if needle in s.key.lower() or needle == s.category.lower()]


# ------------------------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Inputs:
    """What a scenario's execution starts with. ``files`` maps input id -> (name, bytes)."""

    mode: str
    values: dict[str, Any]
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


_PADDED_LINES = "".join(f"{n:>20}\n" for n in range(102)).encode()
_FILE_PLACEHOLDERS: dict[str, tuple[str, bytes]] = {
    "<local path of application-test.yml>": (
        "application-test.yml",
        b"kestra:\n  url: https://mysuperhost.com/subpath\n",
    ),
    "<kestra:// URI of the 102-line file>": ("file.txt", _PADDED_LINES),
    "<kestra:// URI of an empty file>": ("empty.txt", b""),
}
_BASE_MINUS = re.compile(r"^<base_inputs minus (\S+)>$")
_BASE_WITH = re.compile(r"^<base_inputs with (\S+): (.*)>$")


class NotApplicable(Exception):
    """The scenario needs something the runner cannot reproduce (the message says what)."""


def _placeholder(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("<") and value.endswith(">")


def scenario_inputs(scenario: Scenario) -> Inputs:
    """The inputs, files and inputs mode of a scenario's first execution."""
    spec, entry = scenario.spec, scenario.entry
    base = dict(entry.get("base_inputs") or {})
    if "input_error" in spec:
        values = {**base, **(spec["input_error"].get("override") or {})}
        mode = "validated"
    else:
        raw = spec.get("inputs")
        mode = str(spec.get("inputs_mode") or ("validated" if raw else "none"))
        if isinstance(raw, str) and (m := _BASE_MINUS.match(raw)):
            values = {k: v for k, v in base.items() if k != m.group(1)}
        elif isinstance(raw, str) and (m := _BASE_WITH.match(raw)):
            values = {**base, m.group(1): yaml.safe_load(m.group(2))}
        elif raw is None or isinstance(raw, Mapping):
            values = dict(raw or {})
        else:
            raise NotApplicable(f"inputs given in words: {raw!r}")
    files: dict[str, tuple[str, bytes]] = {}
    for key, value in list(values.items()):
        if value in _FILE_PLACEHOLDERS:
            files[key] = _FILE_PLACEHOLDERS[value]
            del values[key]
        elif _placeholder(value):
            raise NotApplicable(f"input {key} is described, not given: {value}")
    return Inputs(mode=mode, values=values, files=files)


def scenario_labels(scenario: Scenario) -> dict[str, str]:
    return {str(x["key"]): str(x["value"]) for x in scenario.spec.get("labels") or ()}


# -------------------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Action:
    """One machine-readable follow-up action of a step."""

    kind: str  # wait | restart | replay | resume | kill | force_run | run | start
    args: Mapping[str, Any] = field(default_factory=dict)


def _multipart(text: str) -> tuple[dict[str, Any], dict[str, str]]:
    """``{asked: "x", files: data=<file>}`` -> inputs and file placeholders by input id."""
    inner = text.strip()
    inner = inner.removeprefix("multipart").strip().removeprefix("{").removesuffix("}")
    values: dict[str, Any] = {}
    files: dict[str, str] = {}
    for part in (p.strip() for p in inner.split(",") if p.strip()):
        key, _, value = part.partition(":")
        value = value.strip()
        if key.strip() == "files":
            name, _, what = value.partition("=")
            files[name.strip()] = what.strip()
        else:
            values[key.strip()] = value.strip('"')
    return values, files


_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(?:emit[\w ]*; ?)?wait(?: \(no action\)| for the new execution| up to \d+ s)?$"), "wait"),
    (re.compile(r"^ExecutionService\.restart\(execution(?:, revision=null)?\)(?:\s+\(API:.*\))?$"), "restart"),
    (re.compile(r"^POST /api/v1/executions/\{id\}/restart$"), "restart"),
    (re.compile(r"^ExecutionService\.replay\(execution, (?P<target>.+?)\)(?:\s+\(API:.*\))?$"), "replay"),
    (re.compile(r"^ExecutionService\.resume\((?:execution|<resumed execution>), RUNNING(?:, (?P<body>.*?))?\)(?P<emit> then emit| again)?$"), "resume"),
    (re.compile(r"^POST /api/v1/executions/\{id\}/resume(?: \(no body\)| (?P<body>multipart \{.*\}))?$"), "resume"),
    (re.compile(r"^ExecutionService\.markAs\(execution, taskrun\('(?P<task>[^']+)'\)\.id, RUNNING\)(?P<emit> then emit)?$"), "resume"),
    (re.compile(r"^DELETE /api/v1/executions/\{id\}/kill$"), "kill"),
    (re.compile(r"^POST /api/v1/executions/\{(?:id|terminatedId)\}/force-run$"), "force_run"),
    (re.compile(r"^run (?P<flow>[\w.-]+?)(?:\.ya?ml)?(?: until (?P<until>PAUSED|RUNNING) \(id (?P<name>\w+)\)| with raw inputs \{(?P<inputs>.*)\}| again)?$"), "run"),
    (re.compile(r"^start execution (?P<name>\d+), wait until (?P<until>RUNNING|terminated)(?:; emit execution (?P<then>\d+))?$"), "start"),
]  # fmt: skip


def parse_action(action: str) -> Action:
    """Read one step's ``action``; raises NotApplicable when it is not machine-readable."""
    text = " ".join(action.split())
    for pattern, kind in _RULES:
        m = pattern.match(text)
        if not m:
            continue
        args = {k: v for k, v in m.groupdict().items() if v is not None}
        if kind == "replay":
            target = args["target"]
            args["target"] = None if target.replace(" ", "") == "taskRunId=null" else target
        if kind == "resume":
            body = args.pop("body", "")
            if body and body != "no inputs":
                if not body.startswith("multipart"):
                    raise NotApplicable(f"resume with {body!r}")
                args["inputs"], args["files"] = _multipart(body)
        if kind == "run" and "inputs" in args:
            args["inputs"], _ = _multipart("{" + args["inputs"] + "}")
        return Action(kind, args)
    raise NotApplicable(f"step not machine-readable: {action!r}")


def parse_steps(steps: Iterable[Mapping[str, Any]]) -> list[tuple[Action, Mapping[str, Any]]]:
    """Every step as (action, expected); NotApplicable names the first unreadable one."""
    return [(parse_action(str(s["action"])), s.get("expected") or {}) for s in steps]
