"""Forms generated from typed input declarations: the flow's Execute form and a Pause's
``onResume`` form.

The widgets follow the declared type (number, date, file picker, select...) and the fields
are filled with the declared defaults, but the form checks nothing itself: what it collects
goes to :func:`kernel.inputs.coerce_inputs` (through the services), whose messages are
then put beside their fields. One validator, so the form accepts exactly what the API does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from django import forms

from kernel.inputs import InputsError, input_json_schema, kind_of

PREFIX = "input"
_BOOLEAN_CHOICES = [("true", "true"), ("false", "false")]


def _initial(kind: str, prop: Mapping[str, Any]) -> Any:
    value = prop.get("x-prefill", prop.get("default"))
    if value is None:
        return None
    if kind == "DATETIME" and isinstance(value, str):
        try:  # datetime-local wants a naive "YYYY-MM-DDTHH:MM:SS" (read back as UTC)
            return datetime.fromisoformat(value.replace("Z", "+00:00")).strftime(
                "%Y-%m-%dT%H:%M:%S"
            )
        except ValueError:
            return value
    if kind == "BOOLEAN":
        return "true" if value is True else "false" if value is False else str(value)
    if kind in ("JSON", "ARRAY", "YAML") and not isinstance(value, str):
        return json.dumps(value, indent=2)
    if kind == "MULTISELECT":
        return list(value) if isinstance(value, list | tuple) else [value]
    return value


def _choices(prop: Mapping[str, Any]) -> list[str]:
    item = prop.get("items", prop)
    return [str(v) for v in item.get("enum", item.get("examples", []))]


def _field(kind: str, prop: Mapping[str, Any], required: bool) -> forms.Field:
    """A field whose widget fits ``kind``; every field accepts any text (see module doc)."""
    text = {"required": False}
    number = {k: prop[k] for k in ("minimum", "maximum") if k in prop}
    attrs = {"min": number.get("minimum"), "max": number.get("maximum")}
    attrs = {k: v for k, v in attrs.items() if v is not None}
    if kind == "FILE":
        return forms.FileField(**text)
    if kind == "INT":
        return forms.CharField(widget=forms.NumberInput(attrs={"step": 1, **attrs}), **text)
    if kind == "FLOAT":
        return forms.CharField(widget=forms.NumberInput(attrs={"step": "any", **attrs}), **text)
    if kind == "BOOLEAN":
        blank = [] if required else [("", "—")]
        return forms.CharField(widget=forms.Select(choices=blank + _BOOLEAN_CHOICES), **text)
    if kind == "SELECT" and "enum" in prop:
        blank = [("", "—")]
        choices = blank + [(v, v) for v in _choices(prop)]
        return forms.CharField(widget=forms.Select(choices=choices), **text)
    if kind == "MULTISELECT" and "enum" in prop.get("items", {}):
        return forms.MultipleChoiceField(
            choices=[(v, v) for v in _choices(prop)],
            widget=forms.CheckboxSelectMultiple,
            **text,
        )
    widgets: dict[str, forms.Widget] = {
        "DATETIME": forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
        "DATE": forms.DateInput(attrs={"type": "date"}),
        "TIME": forms.TimeInput(attrs={"type": "time", "step": 1}),
        "SECRET": forms.PasswordInput(render_value=True),
        "EMAIL": forms.EmailInput,
        "DURATION": forms.TextInput(attrs={"placeholder": "PT5M"}),
        "URI": forms.TextInput(attrs={"placeholder": "https://…", "inputmode": "url"}),
        "JSON": forms.Textarea(attrs={"rows": 3, "placeholder": '{"key": "value"}'}),
        "YAML": forms.Textarea(attrs={"rows": 3}),
        "ARRAY": forms.Textarea(attrs={"rows": 2, "placeholder": '["a", "b"]'}),
        "MULTISELECT": forms.Textarea(attrs={"rows": 2, "placeholder": '["a", "b"]'}),
    }
    return forms.CharField(widget=widgets.get(kind, forms.TextInput), strip=False, **text)


class InputsForm(forms.Form):
    """One field per declared input (``specs``: InputSpec-like objects), plus labels when
    ``with_labels`` (the Execute form)."""

    prefix = PREFIX

    def __init__(self, specs: Sequence[Any], *args: Any, with_labels: bool = False, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.specs = list(specs)
        schema = input_json_schema(self.specs)
        required = set(schema.get("required", []))
        for spec in self.specs:
            kind = kind_of(spec.type)
            prop = schema["properties"][spec.id]
            field = _field(kind, prop, spec.id in required)
            field.label = prop.get("title") or spec.id
            field.initial = _initial(kind, prop)
            hint = [str(spec.type).upper()]
            if spec.id in required:
                hint.append("required")
            if prop.get("x-default-expression"):
                hint.append(f"default: {prop['x-default-expression']}")
            if prop.get("description"):
                hint.append(prop["description"])
            field.help_text = " · ".join(hint)
            field.widget.attrs.setdefault("data-kind", kind)
            self.fields[spec.id] = field
        if with_labels:
            self.fields["_labels"] = forms.CharField(
                required=False,
                label="Labels",
                help_text="one key=value per line, added to the flow's labels",
                widget=forms.Textarea(attrs={"rows": 2, "placeholder": "team=data"}),
            )

    def submitted(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The inputs as the services take them: ``(values, uploaded files)``; a blank field
        is "not given", so its default applies."""
        values: dict[str, Any] = {}
        files: dict[str, Any] = {}
        for spec in self.specs:
            value = self.cleaned_data.get(spec.id)
            if kind_of(spec.type) == "FILE":
                if value:
                    files[spec.id] = value
            elif value not in (None, "", []):
                values[spec.id] = value
        return values, files

    def labels(self) -> dict[str, str] | None:
        """The labels typed in, or None (with an error on the field) when a line is bad."""
        labels: dict[str, str] = {}
        for number, line in enumerate((self.cleaned_data.get("_labels") or "").splitlines(), 1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                self.add_error("_labels", f"line {number}: expected key=value, got {line!r}")
                return None
            labels[key.strip()] = value.strip()
        return labels

    def show_inputs_error(self, error: InputsError) -> None:
        """Put each message of ``error`` beside its field (unknown names above the form)."""
        for key, message in error.errors.items():
            text = f"Invalid input for `{key}`, {message}"
            if key in self.fields:
                self.add_error(key, text)
            else:
                self.add_error(None, text)
