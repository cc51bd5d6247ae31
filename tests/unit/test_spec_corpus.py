"""Every flow of Kestra's own test corpus parses (our compatibility target).

A file whose only problems are task or trigger types not registered yet is an expected failure
naming the missing types, so it turns green on its own as plugins land. Files the corpus
says are invalid must be refused.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import yaml

from kernel.spec.model import SpecError
from kernel.spec.parse import parse_flow

CORPUS = Path(
    os.environ.get("TRELLIS_KESTRA_CORPUS", Path(__file__).parents[3] / "shared/kestra-corpus")
)
_UNKNOWN = re.compile(r"^unknown (?:trigger )?type '([^']+)'")


def _files() -> list[Path]:
    found: list[Path] = []
    for folder in ("flows", "flows-synthetic"):
        if (CORPUS / folder).is_dir():
            found += sorted(p for p in (CORPUS / folder).iterdir() if p.suffix in (".yaml", ".yml"))
    return found


def _invalid_files() -> set[str]:
    """Corpus files an expectation marks as invalid (none today: Kestra's invalid flows
    were not copied, but an entry may say so with ``valid: false`` or ``invalid: true``)."""
    path = CORPUS / "expectations.yaml"
    if not path.is_file():
        return set()
    entries = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("entries") or []
    invalid = set()
    for entry in entries:
        if entry.get("valid") is False or entry.get("invalid") is True:
            invalid.add(entry["file"])
        for case in entry.get("validation_cases") or ():
            invalid.add(Path(case["file"]).name)
    return invalid


FILES = _files()
INVALID = _invalid_files()
pytestmark = pytest.mark.skipif(not FILES, reason=f"no Kestra corpus at {CORPUS}")


@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_a_corpus_flow_parses(path: Path):
    # Given a flow from Kestra's test suite, when it is parsed
    try:
        spec = parse_flow(path.read_bytes(), filename=path.name)
    except SpecError as exc:
        if path.name in INVALID:
            return
        missing = sorted({m.group(1) for p in exc.problems if (m := _UNKNOWN.match(p.message))})
        others = [str(p) for p in exc.problems if not _UNKNOWN.match(p.message)]
        # then any problem other than a type not registered yet is a real failure
        assert not others, "\n".join(others)
        pytest.xfail(f"types not registered yet: {', '.join(missing)}")
    # then it becomes a spec with the identity the file declares
    assert path.name not in INVALID, "the corpus says this flow is invalid"
    source = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert (spec.namespace, spec.id) == (source["namespace"], source["id"])
    assert len(spec.tasks) == len(source["tasks"])
