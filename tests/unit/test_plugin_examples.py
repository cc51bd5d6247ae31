"""Every example a plugin documents itself with is a valid flow that uses the plugin
(STYLE: the same declaration drives validation, the API's schema and the docs)."""

from __future__ import annotations

import pytest

from kernel.registry import registry
from kernel.spec.parse import parse_flow

EXAMPLES = [
    pytest.param(cls, i, example, id=f"{name}[{i}]")
    for name, cls in sorted(registry.all().items())
    for i, example in enumerate(cls.examples)
]


def _types(spec) -> set[str]:
    found = {t.type for top in spec.tasks for t in top.walk()}
    return found | {t.type for t in spec.triggers}


@pytest.mark.parametrize(("cls", "index", "example"), EXAMPLES)
def test_every_plugin_example_is_a_valid_flow_using_it(cls, index, example) -> None:
    spec = parse_flow(example, filename=f"{cls.type}[{index}]")

    assert cls.type in _types(spec)
