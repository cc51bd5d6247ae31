"""Fuzzing the write paths users reach (issue 9): whatever is deployed or submitted, the
answer is a flow / an execution or the documented error, and a refusal writes nothing —
no row in any table, no file in storage."""

from __future__ import annotations

import pytest
import yaml
from django.apps import apps
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executions.services import execution_create
from flows.services import flow_deploy
from kernel.inputs import InputsError
from kernel.spec.model import SpecError
from tests.unit.test_fuzz import documents, scalars

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

INPUTS_FLOW = """id: typed
namespace: fuzz.inputs
inputs:
  - id: doc
    type: FILE
    required: false
  - id: n
    type: INT
    required: false
    min: 0
  - id: when
    type: DATETIME
    required: false
  - id: pick
    type: SELECT
    values: [a, b]
    required: false
  - id: many
    type: ARRAY
    itemType: FLOAT
    required: false
  - id: blob
    type: JSON
    required: false
  - id: mail
    type: EMAIL
    required: false
tasks:
  - id: t
    type: io.kestra.plugin.core.log.Log
    message: hi
"""


def row_counts() -> dict[str, int]:
    return {m._meta.label: m.objects.count() for m in apps.get_models()}


def stored(root) -> list[str]:
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "storage"
    return settings.MEDIA_ROOT


@FUZZ
@given(source=st.one_of(st.text(max_size=300), documents.map(yaml.safe_dump)))
def test_a_refused_deploy_writes_nothing(db, source):
    before = row_counts()
    problems = None
    try:
        flow_deploy(source=source)
    except SpecError as exc:
        problems = exc.problems
    if problems is not None:
        assert problems, "a SpecError always says what is wrong"
        assert row_counts() == before


@FUZZ
@given(
    values=st.dictionaries(
        st.sampled_from(["doc", "n", "when", "pick", "many", "blob", "mail", "unknown"]),
        st.one_of(scalars, st.lists(scalars, max_size=3)),
        max_size=5,
    ),
    upload_first=st.booleans(),
)
def test_refused_inputs_create_no_execution_and_store_no_file(db, storage_root, values,
                                                              upload_first):  # fmt: skip
    from django.core.files.uploadedfile import SimpleUploadedFile

    flow = flow_deploy(source=INPUTS_FLOW).flow
    files = {"doc": SimpleUploadedFile("d.txt", b"data")} if upload_first else None
    before, files_before = row_counts(), stored(storage_root)
    errors, execution = None, None
    try:
        execution = execution_create(flow=flow, inputs=values, files=files)
    except InputsError as exc:
        errors = exc.errors
    if execution is None:
        assert errors, "an InputsError names the inputs"
        assert row_counts() == before
        assert stored(storage_root) == files_before
    else:
        assert execution.state == "CREATED"
