"""The serdes family on real workers: a CSV file goes through every format, written with
Kestra's type names, and comes back identical."""

from __future__ import annotations

import json

import pytest

from executions.models import TaskRun
from kernel.states import State
from orchestrator.storage import default_storage
from tests.integration.runs import run_source, task_runs

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

pytest.importorskip("amazon.ion")
pytest.importorskip("fastavro")
pytest.importorskip("pyarrow")
pytest.importorskip("openpyxl")

CSV = 'id,name,price,joined\n1,"Lovelace, Ada",9.5,2024-01-02\n2,Hopper,12,\n3,"say ""hi""",0.25,1999-12-31\n'

SCHEMA = {
    "type": "record",
    "name": "Person",
    "fields": [
        {"name": "id", "type": "long"},
        {"name": "name", "type": "string"},
        {"name": "price", "type": "double"},
        {"name": "joined", "type": ["null", "string"]},
    ],
}

FLOW = f"""
id: serdes-round-trip
namespace: it.serdes
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: {json.dumps(CSV)}
    extension: .csv
  - id: csv_to_ion
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{{{ outputs.write.uri }}}}"
  - id: ion_to_json
    type: io.kestra.plugin.serdes.json.IonToJson
    from: "{{{{ outputs.csv_to_ion.uri }}}}"
  - id: json_to_ion
    type: io.kestra.plugin.serdes.json.JsonToIon
    from: "{{{{ outputs.ion_to_json.uri }}}}"
  - id: ion_to_avro
    type: io.kestra.plugin.serdes.avro.IonToAvro
    from: "{{{{ outputs.json_to_ion.uri }}}}"
    schema: '{json.dumps(SCHEMA)}'
  - id: avro_to_ion
    type: io.kestra.plugin.serdes.avro.AvroToIon
    from: "{{{{ outputs.ion_to_avro.uri }}}}"
  - id: ion_to_parquet
    type: io.kestra.plugin.serdes.parquet.IonToParquet
    from: "{{{{ outputs.avro_to_ion.uri }}}}"
    compressionCodec: SNAPPY
  - id: parquet_to_ion
    type: io.kestra.plugin.serdes.parquet.ParquetToIon
    from: "{{{{ outputs.ion_to_parquet.uri }}}}"
  - id: ion_to_excel
    type: io.kestra.plugin.serdes.excel.IonToExcel
    from:
      People: "{{{{ outputs.parquet_to_ion.uri }}}}"
  - id: excel_to_ion
    type: io.kestra.plugin.serdes.excel.ExcelToIon
    from: "{{{{ outputs.ion_to_excel.uri }}}}"
  - id: ion_to_csv
    type: io.kestra.plugin.serdes.csv.IonToCsv
    from: "{{{{ outputs.excel_to_ion.uris.People }}}}"
"""


def test_a_csv_file_goes_through_every_format_and_back(workers) -> None:
    done = run_source(FLOW, timeout=90)

    runs = task_runs(done)
    assert done.state == State.SUCCESS, {k: (r.state, r.outputs) for k, r in runs.items()}
    assert runs["ion_to_excel"].outputs["size"] == 3
    assert runs["excel_to_ion"].outputs["size"] == 3
    with default_storage().open(runs["avro_to_ion"].outputs["uri"]) as handle:
        first = handle.readline().decode()
    assert first == '{id:1,name:"Lovelace, Ada",price:9.5e+0,joined:"2024-01-02"}\n'
    with default_storage().open(runs["ion_to_csv"].outputs["uri"]) as handle:
        assert handle.read().decode("utf-8") == CSV


def test_a_bad_row_fails_the_task_with_its_line(workers) -> None:
    done = run_source(
        """
id: serdes-bad-row
namespace: it.serdes
tasks:
  - id: write
    type: io.kestra.plugin.core.storage.Write
    content: "a,b\\n1,2\\n3\\n"
    extension: .csv
  - id: csv_to_ion
    type: io.kestra.plugin.serdes.csv.CsvToIon
    from: "{{ outputs.write.uri }}"
""",
        timeout=60,
    )

    assert done.state == State.FAILED
    run = TaskRun.objects.get(execution=done, task_id="csv_to_ion")
    assert run.state == State.FAILED
