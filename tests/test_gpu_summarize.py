"""benchmarks/gpu/summarize.py reads the parts of a GPU run: pytest-benchmark JSON files, the
$GENBENCH_BENCH_LOG log of a part cut off by its limit, and skips the empty JSON such a part leaves."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def summarize():
    spec = importlib.util.spec_from_file_location("gpu_summarize", ROOT / "benchmarks" / "gpu" / "summarize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _record(name: str, genbench: float, bare: float) -> dict:
    return {"name": name, "group": "gpu-train-dcgan32-fp32 (extra_info: img/s)", "min_s": 2.5, "median_s": 2.6,
            "rounds": 1, "extra_info": {"genbench_img_per_s": genbench, "bare_img_per_s": bare,
                                        "genbench_rounds": [genbench], "bare_rounds": [bare], "device": "GPU-X"}}


def test_a_cut_off_part_is_read_from_its_log_and_its_empty_json_skipped(summarize, tmp_path, capsys):
    (tmp_path / "gpu-2.json").write_text("")  # what `timeout` leaves of --benchmark-json
    (tmp_path / "bench.jsonl").write_text(json.dumps(_record("test_gpu_train_dcgan[fp32-32]", 9700.0, 10000.0)) + "\n")
    assert summarize.main([str(tmp_path / "gpu-2.json"), str(tmp_path / "bench.jsonl")]) == 0
    out, err = capsys.readouterr()
    assert "gpu-2.json is missing or empty" in err
    assert "# GPU benchmarks: GPU-X" in out
    assert "genbench 9,700 img/s vs bare loop 10,000 = 0.970" in out
    assert "2.500 (both)" in out  # the log's min time stands for pytest-benchmark's stats.min


def test_nothing_readable_is_an_error(summarize, tmp_path):
    (tmp_path / "gpu-1.json").write_text("")
    with pytest.raises(SystemExit):
        summarize.main([str(tmp_path / "gpu-1.json")])


def test_a_benchmark_in_both_a_json_and_a_log_counts_once(summarize, tmp_path, capsys):
    rec = _record("test_gpu_train_dcgan[fp32-32]", 9700.0, 10000.0)
    bench = {"name": rec["name"], "group": rec["group"], "extra_info": rec["extra_info"], "stats": {"min": 2.5}}
    (tmp_path / "gpu-1.json").write_text(json.dumps({"benchmarks": [bench]}))
    (tmp_path / "bench-1.jsonl").write_text(json.dumps(rec) + "\n")
    assert summarize.main([str(tmp_path / "gpu-1.json"), str(tmp_path / "bench-1.jsonl")]) == 0
    out = capsys.readouterr().out
    assert out.count("| genbench (rounds 9,700)") == 1 and out.count("= 0.970") == 1
