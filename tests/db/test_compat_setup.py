"""The compatibility runner's set-ups that need the database (issue 8)."""

from __future__ import annotations

import pytest

from compat.live import apply_setup, corpus_namespaces
from compat.scenarios import NotApplicable, load_corpus
from kv.services import kv_get, kv_keys, kv_set

pytestmark = pytest.mark.django_db


def test_kv_entries_are_cleared_then_set_as_the_scenario_says() -> None:
    kv_set("io.kestra.tests", "left-over", 1)

    apply_setup(
        {"before_each": "delete every KV entry of namespace io.kestra.tests"},
        {"kv": {"namespace": "io.kestra.tests", "key": "my-key", "value": {"field": "value"}}},
    )

    assert kv_keys("io.kestra.tests") == ["my-key"]
    assert kv_get("io.kestra.tests", "my-key") == {"field": "value"}


def test_a_set_up_in_words_is_not_guessed() -> None:
    with pytest.raises(NotApplicable, match="set-up in words"):
        apply_setup({"before_each": "restart the JVM"}, {})


def test_the_namespaces_of_an_extra_corpus_are_read_from_its_flows(tmp_path) -> None:
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "a.yaml").write_text("id: a\nnamespace: my.tests\ntasks: []\n")
    (tmp_path / "flows" / "b.yaml").write_text(": not yaml [")
    (tmp_path / "expectations.yaml").write_text("entries: []\n")

    assert corpus_namespaces(load_corpus(tmp_path, origin="x")) == {"my.tests"}
