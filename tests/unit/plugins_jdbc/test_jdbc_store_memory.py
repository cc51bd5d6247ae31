"""STORE streams: a million PostgreSQL rows go to the Ion file through a server-side cursor,
and the process's peak memory grows no more than for ten thousand rows (plus a small slack).

Measured in a fresh interpreter so the peak (``ru_maxrss``) is this work's own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import json, resource, sys, tempfile
from pathlib import Path
from plugins.jdbc.query import Query
from tests.unit.fake_context import FakeContext

url = sys.argv[1]
ctx = FakeContext(Path(tempfile.mkdtemp()))
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
sql = "SELECT i AS id, 'row number ' || i AS name, i * 1.5 AS price FROM generate_series(1, :n) i"
out = {}
for n in (10_000, 1_000_000):
    result = Query().run({"url": url, "sql": sql, "parameters": {"n": n}, "fetchType": "STORE"}, ctx)
    path = ctx.open_uri(result["uri"])
    with path.open() as f:
        lines = sum(1 for _ in f)
    out[str(n)] = {"size": result["size"], "lines": lines, "peak_mb": peak_mb()}
    path.unlink()
print(json.dumps(out))
"""


def test_store_of_a_million_rows_keeps_memory_flat(pg_url) -> None:
    root = Path(__file__).resolve().parents[3]
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, pg_url],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    small, big = out["10000"], out["1000000"]
    assert small["size"] == small["lines"] == 10_000
    assert big["size"] == big["lines"] == 1_000_000
    # Held in memory, a million rows of three columns would take several hundred MB.
    growth = big["peak_mb"] - small["peak_mb"]
    assert growth < 40, f"peak memory grew by {growth:.0f} MB for 1,000,000 rows: {out}"
