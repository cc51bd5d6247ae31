"""Import what Kestra exported: a folder (or a zip) of flows and templates, judged per file.

Every document is parsed before anything is written and lands in one of three groups:

* **accepted** as is;
* **deprecated**: accepted, with the deprecation warnings (``taskDefaults``,
  ``EachSequential``, input ``name``, ``ENUM``...) at their lines;
* **unsupported**: refused, with every problem at its line (a plugin Trellis does not have,
  a property it does not know, invalid YAML...). A refused file changes nothing.

The accepted documents are then deployed in one transaction, templates first (flows may
include them), unless it is a dry run; with ``strict`` one refused file stops everything.
Templates are told apart from flows by their folder: a file under a ``templates`` (or
``_templates``) folder is a template, as Kestra's own export lays them out.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.db import transaction

from flows.archives import ArchiveError, read_checked
from flows.services.common import YAML_SUFFIXES, collect_documents, problem
from flows.services.deploy import flow_deploy, parse_source
from kernel.spec.model import SpecError, SpecProblem
from templates.services import template_deploy, template_parse

ACCEPTED, DEPRECATED, UNSUPPORTED = "accepted", "deprecated", "unsupported"
TEMPLATE_FOLDERS = frozenset({"templates", "_templates"})
#: A zip export may hold at most this many documents and this many bytes once unpacked.
MAX_ZIP_DOCUMENTS, MAX_ZIP_BYTES = 5_000, 200 * 1024 * 1024


@dataclass
class FileReport:
    filename: str
    kind: str  # "flow" | "template"
    status: str = ACCEPTED
    #: ``namespace.id`` of the flow or template, once known.
    name: str = ""
    warnings: list[SpecProblem] = field(default_factory=list)
    problems: list[SpecProblem] = field(default_factory=list)
    #: After the deploy: "created", "updated", "unchanged" (empty when nothing was written).
    outcome: str = ""
    revision: int | None = None
    source: str = field(default="", repr=False)


@dataclass
class ImportReport:
    files: list[FileReport]
    deployed: bool

    def of(self, status: str) -> list[FileReport]:
        return [f for f in self.files if f.status == status]


def _is_template(filename: str) -> bool:
    return any(part.lower() in TEMPLATE_FOLDERS for part in Path(filename).parts[:-1])


def read_documents(paths: list[str | Path]) -> tuple[list[tuple[str, str]], list[SpecProblem]]:
    """``(filename, source)`` of every YAML document in the folders, files and zip archives
    given (a zip's entries are named ``archive.zip!entry.yml``)."""
    documents: list[tuple[str, str]] = []
    problems: list[SpecProblem] = []
    plain: list[str | Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file() and path.suffix.lower() == ".zip":
            found, bad = _zip_documents(path)
            documents += found
            problems += bad
        else:
            plain.append(path)
    if plain:
        found, bad = collect_documents(plain)
        documents += found
        problems += bad
    return documents, problems


def _zip_documents(path: Path) -> tuple[list[tuple[str, str]], list[SpecProblem]]:
    def wanted(e: zipfile.ZipInfo) -> bool:
        parts = Path(e.filename).parts
        return Path(e.filename).suffix in YAML_SUFFIXES and not any(
            p.startswith(".") for p in parts
        )

    try:  # sizes and CRCs checked before a member is read (issue 21)
        members = read_checked(
            str(path), wanted=wanted, max_members=MAX_ZIP_DOCUMENTS, max_total_bytes=MAX_ZIP_BYTES
        )
    except (ArchiveError, OSError) as exc:
        where = f"{path}!{exc.member}" if isinstance(exc, ArchiveError) and exc.member else path
        message = exc.message if isinstance(exc, ArchiveError) else str(exc)
        return [], [problem(str(where), f"cannot read the zip archive: {message}")]
    documents, problems = [], []
    for filename, content in sorted(members):
        name = f"{path}!{filename}"
        try:
            documents.append((name, content.decode("utf-8")))
        except UnicodeDecodeError as exc:
            problems.append(problem(name, f"cannot read the file: {exc}"))
    return documents, problems


def judge(filename: str, source: str) -> FileReport:
    """Parse one document as Kestra wrote it, without writing anything."""

    template = _is_template(filename)
    report = FileReport(filename, "template" if template else "flow", source=source)
    try:
        spec = (
            template_parse(source, filename=filename)[0]
            if template
            else parse_source(source, filename=filename)
        )
    except SpecError as exc:
        report.status, report.problems = UNSUPPORTED, list(exc.problems)
        return report
    report.name = f"{spec.namespace}.{spec.id}"
    report.warnings = list(spec.warnings)
    report.status = DEPRECATED if report.warnings else ACCEPTED
    return report


def kestra_import(
    paths: list[str | Path],
    *,
    dry_run: bool = False,
    strict: bool = False,
    author: Any = None,
) -> ImportReport:
    """Judge every document, then deploy the accepted ones (see the module docstring)."""
    documents, unreadable = read_documents(paths)
    reports = [judge(name, source) for name, source in documents]
    for bad in unreadable:
        reports.append(FileReport(bad.filename, "flow", UNSUPPORTED, problems=[bad]))
    _refuse_duplicates(reports)
    good = [r for r in reports if r.status != UNSUPPORTED]
    if dry_run or not good or (strict and len(good) != len(reports)):
        return ImportReport(reports, deployed=False)
    with transaction.atomic():
        for report in sorted(good, key=lambda r: r.kind != "template"):
            _deploy(report, author)
    return ImportReport(reports, deployed=True)


def _refuse_duplicates(reports: list[FileReport]) -> None:
    """A flow (or template) defined by two files: the second is refused."""
    seen: dict[tuple[str, str], str] = {}
    for report in reports:
        if report.status == UNSUPPORTED:
            continue
        key = (report.kind, report.name.lower())
        if key in seen:
            report.status = UNSUPPORTED
            report.problems = [
                problem(report.filename, f"{report.kind} {report.name} is also in {seen[key]}")
            ]
        else:
            seen[key] = report.filename


def _deploy(report: FileReport, author: Any) -> None:
    if report.kind == "template":
        result = template_deploy(source=report.source, author=author, filename=report.filename)
        report.outcome = (
            "created" if result.created else "updated" if result.changed else "unchanged"
        )
        report.revision = result.template.revision
        return
    deployed = flow_deploy(source=report.source, author=author, filename=report.filename)
    report.outcome = (
        "created" if deployed.created else "updated" if deployed.changed else "unchanged"
    )
    report.revision = deployed.revision
