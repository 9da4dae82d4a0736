"""The benchmark scripts still run end to end (tiny settings; their timings are not checked here)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_load_test_starts_the_app_serves_every_client_and_stops_it(tmp_path):
    out = tmp_path / "load.json"
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "load_test.py"), "--clients", "2", "--requests", "2",
                        "--timeout", "240", "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["summary"][0]["sent"] == 4 and result["summary"][0]["failures"] == 0
    assert {row["model"] for row in result["requests"]} == {"emoji", "monet2photo"}  # examples of both models
    assert all(row["server_seconds"] > 0 for row in result["requests"])
    assert "p95 latency" in r.stdout
