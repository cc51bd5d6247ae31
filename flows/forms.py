"""Admin forms that edit a YAML source and validate it with the spec parser.

The form only validates and shows problems; saving goes through a service (flow_deploy,
template_deploy) in the ModelAdmin.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.db.models.functions import Lower

from flows.models import Flow
from flows.services.deploy import parse_source
from kernel.spec.model import FlowSpec, SpecError, SpecProblem


@dataclass(frozen=True)
class SourceLine:
    number: int
    text: str
    messages: tuple[str, ...]


def problem_text(p: SpecProblem) -> str:
    where = f" ({p.path})" if p.path else ""
    return f"line {p.line}, col {p.col}: {p.message}{where}"


class YamlSourceForm(forms.ModelForm):
    """A ModelForm over one ``source`` textarea; subclasses say how to parse and check it."""

    source = forms.CharField(
        strip=False,  # a trailing newline is part of the source
        widget=forms.Textarea(
            attrs={"rows": 30, "cols": 100, "spellcheck": "false", "class": "vLargeTextField"}
        ),
    )
    filename = "<admin>"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.problems: list[SpecProblem] = []
        self.spec: FlowSpec | None = None

    def parse(self, source: str) -> FlowSpec:
        raise NotImplementedError

    def check_identity(self, spec: FlowSpec) -> str | None:
        """An error message when the document may not be saved from this page."""
        return None

    def clean_source(self) -> str:
        source = self.cleaned_data["source"]
        # Browsers send textarea text with CRLF; keep LF unless the stored source used CRLF,
        # so saving an unchanged page makes no new revision.
        if "\r\n" not in (self.instance.source or ""):
            source = source.replace("\r\n", "\n")
        try:
            spec = self.parse(source)
        except SpecError as exc:
            self.problems = list(exc.problems)
            raise forms.ValidationError([problem_text(p) for p in exc.problems])
        message = self.check_identity(spec)
        if message:
            raise forms.ValidationError(message)
        self.spec = spec
        return source

    def annotated_source(self) -> list[SourceLine]:
        """The submitted source, line by line, with the problems found on each line."""
        if not self.problems:
            return []
        by_line: dict[int, list[str]] = {}
        for p in self.problems:
            by_line.setdefault(p.line, []).append(problem_text(p))
        text = (self.data.get(self.add_prefix("source")) or "").replace("\r\n", "\n")
        lines = text.split("\n")
        last = max([len(lines), *by_line])
        return [
            SourceLine(
                number=n,
                text=lines[n - 1] if n <= len(lines) else "",
                messages=tuple(by_line.get(n, ())),
            )
            for n in range(1, last + 1)
        ]


class FlowSourceForm(YamlSourceForm):
    filename = "<flow>"

    class Meta:
        model = Flow
        fields = ["source"]

    def parse(self, source: str) -> FlowSpec:
        return parse_source(source, filename=self.filename)

    def check_identity(self, spec: FlowSpec) -> str | None:
        instance = self.instance
        if instance.pk and (
            spec.namespace != instance.namespace.name or spec.id.lower() != instance.flow_id.lower()
        ):
            return (
                f"this page edits {instance}; the source describes {spec.namespace}.{spec.id}. "
                "Add a new flow to deploy another one."
            )
        clash = (
            Flow.objects.live()
            .alias(id_lower=Lower("flow_id"))
            .filter(namespace__name=spec.namespace, id_lower=spec.id.lower())
            .exclude(pk=instance.pk)
            .first()
        )
        if clash is not None:
            if clash.flow_id == spec.id:
                return f"flow {clash} already exists; edit it instead"
            return f"flow {clash} already exists; ids that differ only by case are not allowed"
        return None
