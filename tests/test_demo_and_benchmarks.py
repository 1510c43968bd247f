"""The main job runs, and the benchmark harness cannot rot (its smoke mode runs here)."""

import json

from benchmarks import run as bench
from jaxrl_modules import demo


def test_demo_runs(capsys):
    demo.main(["--envs", "2", "--steps", "5"])
    out = capsys.readouterr().out
    assert "batch_size (2, 5)" in out and "steps/s" in out


def test_benchmark_smoke_mode_prints_a_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rows = bench.main(["--smoke", "--json", str(path)])
    assert rows and all(t.median_us > 0 for r in rows for t in r.timings.values())
    assert {"jaxrl_modules", "jax"} <= set(rows[0].timings)
    table = capsys.readouterr().out
    assert "jaxrl/jax" in table and "tdmodule_mlp" in table
    payload = json.loads(path.read_text())
    assert payload["rows"][0]["case"] == "tdmodule_mlp" and "jax" in payload["environment"]
