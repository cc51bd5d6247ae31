"""tools/kestra_types.py, the count of Kestra type names by family for issue 17's closing
note: it runs as a script and finds names to count."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.integration.harness import ROOT
from tools.kestra_types import count


def test_the_script_runs_and_counts_some_names() -> None:
    done = subprocess.run(
        [sys.executable, "tools/kestra_types.py", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    total = json.loads(done.stdout)["total"]
    assert total["total"] > 0
    assert (
        total["total"] == total["tasks"] + total["triggers"] + total["conditions"] + total["other"]
    )


def test_core_log_counts_kestra_names_only() -> None:
    families = count()["families"]
    # Log and Return, each under Kestra's new, old and oldest names; trellis.* not counted.
    assert families["core.log"]["tasks"] == 6
    assert families["core.triggers"]["triggers"] > 0
    assert families["core.conditions"]["conditions"] > 0
