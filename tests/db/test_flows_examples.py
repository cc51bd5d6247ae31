"""The example flows that `make run` loads must all deploy."""

from __future__ import annotations

import pytest
from django.conf import settings

from flows.services import flows_deploy_folder

pytestmark = pytest.mark.django_db


def test_every_example_deploys_in_one_go():
    result = flows_deploy_folder(paths=[settings.TRELLIS_EXAMPLES_DIR])

    assert sorted(r.flow.flow_id for r in result.results) == [
        "errors",
        "hello",
        "inputs",
        "parallel",
        "retry",
        "shell",
    ]
    assert all(r.created for r in result.results)
