"""benchmarks/pottery_completion.py: a quick run on the embedded profiles prints its JSON last line."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "pottery_completion.py"


def test_the_completion_benchmark_reports_both_measures_for_both_cuts(capsys):
    spec = importlib.util.spec_from_file_location("pottery_completion", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.main(["--data", "pottery-synthetic", "--size", "32", "--train-steps", "30", "--steps", "5",
                      "--restarts", "1", "--items", "12", "--threads", "1"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == json.loads(json.dumps(out)) and last["items"] == 12
    for key in ("rmse_missing", "rmse_given", "nearest", "shape_missing", "shape_missing_trimmed", "nearest_shape"):
        assert set(last[key]) == {"base", "rim"}
    assert last["rmse_given"] == {"base": 0.0, "rim": 0.0}               # the kept part comes back as given
    for missing in ("base", "rim"):
        assert 0 < last["rmse_missing"][missing] <= 1 and 0 <= last["nearest"][missing] <= 1
        assert 0 <= last["nearest_shape"][missing] < 1             # retrieved profiles always have an outline
        assert 0 <= last["shape_untraced"][missing] <= 12
        if last["shape_untraced"][missing] == 12:                   # a 30-step model may draw no ink at all
            assert last["shape_missing"][missing] is None
        else:
            assert 0 <= last["shape_missing"][missing] < 1
