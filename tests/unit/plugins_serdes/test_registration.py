"""The family is found through its entry point under Kestra's names, imports no format
library until a task runs, and a missing library fails validation naming the extra."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from kernel.registry import registry
from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow

KESTRA_NAMES = {
    f"io.kestra.plugin.serdes.{family}.{name}": f"trellis.serdes.{family}.{name}"
    for family, names in {
        "csv": ("CsvToIon", "IonToCsv"),
        "json": ("JsonToIon", "IonToJson"),
        "avro": ("AvroToIon", "IonToAvro", "InferAvroSchemaFromIon"),
        "parquet": ("ParquetToIon", "IonToParquet"),
        "excel": ("ExcelToIon", "IonToExcel"),
    }.items()
    for name in names
}

FLOW = """id: uses-avro
namespace: test
tasks:
  - id: to_avro
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{{ outputs.x.uri }}"
"""


@pytest.mark.parametrize(("kestra", "canonical"), sorted(KESTRA_NAMES.items()))
def test_kestra_names_resolve(kestra: str, canonical: str) -> None:
    assert registry.get(kestra).type == canonical


def test_the_family_comes_from_the_entry_point() -> None:
    from importlib.metadata import entry_points

    points = {ep.name: ep.value for ep in entry_points(group="trellis.plugins")}

    assert points.get("serdes") == "plugins.serdes"


def test_importing_the_family_imports_no_format_library() -> None:
    code = (
        "import sys, plugins.serdes; "
        "print(sorted(m for m in ('amazon', 'fastavro', 'pyarrow', 'openpyxl', 'numpy') "
        "if m in sys.modules))"
    )

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    assert out.stdout.strip() == "[]"


def test_a_missing_library_fails_validation_naming_the_extra(monkeypatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "fastavro" else real(name, *a),
    )

    with pytest.raises(SpecError) as caught:
        parse_flow(FLOW)

    assert "fastavro" in str(caught.value)
    assert "pip install 'trellis[serdes]'" in str(caught.value)


def test_with_the_libraries_the_same_flow_is_valid() -> None:
    pytest.importorskip("fastavro")

    assert parse_flow(FLOW).tasks[0].type == "trellis.serdes.avro.IonToAvro"


def test_keeping_ion_annotations_is_refused_at_validation() -> None:
    flow = """id: annotations
namespace: test
tasks:
  - id: to_json
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{ outputs.x.uri }}"
    shouldKeepAnnotations: true
"""

    with pytest.raises(SpecError, match="annotations are not kept"):
        parse_flow(flow)
