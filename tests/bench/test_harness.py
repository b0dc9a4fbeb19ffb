"""fusegrad.benchmarks (``fusegrad bench``) and the batch-size suite: well-formed output only.

The harness is tested on a folder of stand-in scripts (fast, every branch: flags passed
through, JSON collected, skips, failures, timeouts); the real suites run with ``--quick``
(tiny sizes) in the slow tests. No timing is asserted anywhere.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from fusegrad import benchmarks

REPO_BENCH = Path(__file__).resolve().parents[2] / "bench"

_FAKE_COMMON = '''
from dataclasses import dataclass

@dataclass
class Stats:  # as the real common.py: loading it by path must support dataclasses
    median: float = 0.0

def measure_triad(n=1 << 24, min_time=0.2):
    return {"gbps": 10.0, "label": "fake triad", "n": n}

def peak_gflops(threads=1, dtype="float32"):
    return {"gflops": 100.0 * threads, "label": "fake peak", "threads": threads}
'''

# A stand-in suite: records the arguments it got, prints a table, writes JSON.
_FAKE_SUITE = '''
import argparse, json, sys
ap = argparse.ArgumentParser()
ap.add_argument("--quick", action="store_true")
ap.add_argument("--threads", default="1,2")
ap.add_argument("--device", default="cpu")
ap.add_argument("--out", default=None)
ap.add_argument("--json", default=None)
a = ap.parse_args()
print("kernel  fusegrad  numpy  ratio")
print("------  --------  -----  -----")
print("neg     1.00 ms   2.00 ms  2.00")
if a.json:
    json.dump({"argv": sys.argv[1:], "rows": [{"kernel": "neg", "ratio": 2.0,
               "fusegrad_gbps": 5.0}]}, open(a.json, "w"))
'''


@pytest.fixture
def fake_bench(tmp_path: Path) -> Path:
    d = tmp_path / "bench"
    d.mkdir()
    (d / "common.py").write_text(_FAKE_COMMON)
    (d / "bench_elementwise.py").write_text(_FAKE_SUITE)  # kernels: ok
    # bench_reduce.py is missing: skipped
    (d / "bench_matmul.py").write_text("import sys\nprint('boom')\nsys.exit(3)\n"
                                      "# add_argument('--quick')\n")  # kernels: fails
    (d / "bench_norm.py").write_text("print('no flags')\n")  # norm: has no --quick
    (d / "bench_loss.py").write_text(_FAKE_SUITE.replace('ap.add_argument("--device", '
                                                         'default="cpu")\n', ""))
    (d / "bench_optim.py").write_text("import time\ntime.sleep(30)\n"
                                      "# add_argument('--quick')\n")  # optim: hangs
    return d


def _run(fake: Path, tmp_path: Path, *argv: str) -> tuple[int, dict]:
    out = tmp_path / "all.json"
    rc = benchmarks.main(["--bench-dir", str(fake), "--json", str(out), *argv])
    return rc, json.loads(out.read_text())


def test_harness_suite_names_map_to_scripts():
    assert benchmarks.suite_scripts("kernels") == ["bench_elementwise", "bench_reduce",
                                                   "bench_matmul"]
    assert benchmarks.suite_scripts("norm") == ["bench_norm", "bench_loss"]
    assert benchmarks.suite_scripts("batch-size") == ["bench_batch_size"]
    every = benchmarks.suite_scripts("all")
    assert "bench_train" in every and "bench_optim" in every
    assert "bench_cuda" not in every and "bench_cuda" in benchmarks.suite_scripts("all", "cuda")
    with pytest.raises(ValueError, match="unknown suite"):
        benchmarks.suite_scripts("gemm")


# Whether fusegrad runs from this checkout (PYTHONPATH=python) or from an installed wheel.
FROM_CHECKOUT = Path(benchmarks.__file__).resolve().parents[2] / "bench" == REPO_BENCH


def test_harness_finds_every_suite_script():
    found = benchmarks.bench_dir()
    installed = Path(benchmarks.__file__).resolve().parent / "_bench"
    assert found == (REPO_BENCH if FROM_CHECKOUT else installed)
    want = {p.name for p in REPO_BENCH.glob("*.py")}
    assert want <= {p.name for p in found.glob("*.py")}, "scripts missing from the bench dir"


def test_harness_prefers_scripts_shipped_in_the_package(tmp_path, monkeypatch):
    import importlib.resources

    shipped = tmp_path / "fusegrad" / "_bench"  # what CMake's install(DIRECTORY bench/ ...) makes
    shipped.mkdir(parents=True)
    (shipped / "common.py").write_text(_FAKE_COMMON)
    monkeypatch.setattr(importlib.resources, "files", lambda pkg: tmp_path / pkg)
    assert benchmarks.bench_dir() == shipped
    (shipped / "common.py").unlink()  # an incomplete install: fall back to the checkout
    if FROM_CHECKOUT:
        assert benchmarks.bench_dir() == REPO_BENCH
    else:  # an installed package has no checkout to fall back to: a clear error
        with pytest.raises(FileNotFoundError, match="bench"):
            benchmarks.bench_dir()


def test_harness_runs_scripts_and_combines_json(fake_bench, tmp_path, capsys):
    rc, doc = _run(fake_bench, tmp_path, "--suite", "kernels", "--quick", "--threads", "1",
                   "--out", str(tmp_path / "plots"))
    printed = capsys.readouterr().out
    assert rc == 1  # bench_matmul failed
    assert doc["schema"] == benchmarks.SCHEMA
    assert doc["options"] == {"suite": "kernels", "device": "cpu", "threads": "1", "quick": True}
    (ref,) = doc["machine"]["references"]
    assert ref["threads"] == 1 and ref["triad"]["gbps"] == 10.0 and ref["peak"]["gflops"] == 100
    runs = {r["script"]: r for r in doc["runs"]}
    assert list(runs) == ["bench_elementwise.py", "bench_reduce.py", "bench_matmul.py"]
    ok = runs["bench_elementwise.py"]
    assert ok["status"] == "ok" and ok["returncode"] == 0 and ok["suite"] == "kernels"
    got = ok["results"]["argv"]
    assert got[:3] == ["--quick", "--threads", "1"]
    assert got[got.index("--out") + 1] == str(tmp_path / "plots")
    assert "--device" not in got  # cpu is every script's default
    assert ok["results"]["rows"] == [{"kernel": "neg", "ratio": 2.0, "fusegrad_gbps": 5.0}]
    # rows reporting fusegrad_gbps are set against the triad measured in the run (10 GB/s)
    (ceil,) = ok["ceilings"]
    assert ceil["row"] == "neg" and ceil["of"] == "triad" and ceil["pct"] == pytest.approx(50.0)
    assert re.search(r"bench_elementwise\.py\s+neg\s+5\.00 GB/s\s+50\.0% of triad \(1 thread\)",
                     printed)
    assert runs["bench_reduce.py"]["status"] == "skipped"
    assert "not present" in runs["bench_reduce.py"]["note"]
    bad = runs["bench_matmul.py"]
    assert bad["status"] == "failed" and bad["returncode"] == 3 and "boom" in bad["note"]
    # the scripts' own tables are echoed, then a summary
    assert "kernel  fusegrad  numpy  ratio" in printed
    summary = printed[printed.index("\nsummary\n"):].splitlines()
    assert summary[2].split()[:3] == ["suite", "script", "status"]
    assert [ln.split()[1] for ln in summary[3:6]] == list(runs)
    assert "fake triad 10.0 GB/s" in printed


def test_harness_skips_without_quick_and_passes_device(fake_bench, tmp_path):
    rc, doc = _run(fake_bench, tmp_path, "--suite", "norm", "--quick")
    runs = {r["script"]: r for r in doc["runs"]}
    assert rc == 0
    assert runs["bench_norm.py"]["status"] == "skipped"
    assert runs["bench_norm.py"]["note"] == "no --quick mode"
    assert runs["bench_loss.py"]["status"] == "ok"
    rc, doc = _run(fake_bench, tmp_path, "--suite", "norm", "--device", "cuda")
    runs = {r["script"]: r for r in doc["runs"]}
    assert runs["bench_norm.py"]["status"] == "skipped"  # no --device: CPU only
    assert runs["bench_loss.py"]["status"] == "skipped"


def test_harness_device_flag_reaches_script(fake_bench, tmp_path):
    rc, doc = _run(fake_bench, tmp_path, "--suite", "kernels", "--device", "cuda:1")
    (ok,) = [r for r in doc["runs"] if r["status"] == "ok"]
    argv = ok["results"]["argv"]
    assert argv[argv.index("--device") + 1] == "cuda:1"


def test_harness_stops_script_at_timeout(fake_bench, tmp_path):
    rc, doc = _run(fake_bench, tmp_path, "--suite", "optim", "--timeout", "1")
    (r,) = doc["runs"]
    assert rc == 1 and r["status"] == "failed" and r["returncode"] == -9
    assert r["seconds"] < 20


def test_harness_list(fake_bench, capsys):
    assert benchmarks.main(["--bench-dir", str(fake_bench), "--list"]) == 0
    out = capsys.readouterr().out
    assert "kernels     bench_elementwise, bench_reduce (missing), bench_matmul" in out
    assert out.count("\n") == len(benchmarks.SUITES) + 1


def test_harness_rejects_unknown_suite():
    with pytest.raises(SystemExit):
        benchmarks.main(["--suite", "gemm"])


# ---- the batch-size suite in-process, tiny ---------------------------------------------------
def _load(stem: str):
    sys.path.insert(0, str(REPO_BENCH))
    try:
        spec = importlib.util.spec_from_file_location(f"_test_{stem}", REPO_BENCH / f"{stem}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        sys.path.remove(str(REPO_BENCH))


def test_batch_size_suite_writes_table_plot_and_json(tmp_path, capsys):
    pytest.importorskip("sklearn", reason="the digits come from scikit-learn")
    pytest.importorskip("matplotlib")
    mod = _load("bench_batch_size")
    out = tmp_path / "out"
    res = mod.main(["--batch-sizes", "1,8", "--max-updates", "2", "--epochs", "1",
                    "--libraries", "fusegrad,numpy", "--out", str(out),
                    "--json", str(tmp_path / "bs.json")])
    printed = capsys.readouterr().out
    assert [r["batch"] for r in res["rows"]] == [1, 8]
    for r in res["rows"]:
        assert set(r["results"]) == {"fusegrad", "numpy"}
        for lib in r["results"].values():
            assert lib["update_s"] > 0 and lib["epoch_estimated"] and lib["updates_timed"] == 2
            assert lib["epoch_s"] == pytest.approx(lib["update_s"] * r["updates_per_epoch"])
    assert res["rows"][0]["updates_per_epoch"] == 1797
    assert res["rows"][1]["flops_per_update"] == 6 * 8 * (64 * 128 + 128 * 128 + 128 * 10)
    head = res["columns"]
    for col in ("batch", "fusegrad ms/upd", "fusegrad ms/epoch", "numpy ms/upd",
                "fg GFLOP/s", "fg %peak", "numpy/fg", "others"):
        assert col in head
    assert "  ".join(head[:3]) in printed
    lines = (out / "batch_size.csv").read_text().splitlines()
    assert lines[0].split(",") == head and len(lines) == 3
    assert (out / "batch_size.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((tmp_path / "bs.json").read_text())
    assert doc["suite"] == "batch-size" and len(doc["rows"]) == 2


# ---- every real suite through the harness, --quick -------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("suite", [s for s in benchmarks.SUITES if s != "cuda"])
def test_real_suite_quick_through_harness(suite, tmp_path, capsys):
    out = tmp_path / "all.json"
    rc = benchmarks.main(["--suite", suite, "--quick", "--threads", "1", "--json", str(out),
                          "--out", str(tmp_path / "plots"), "--timeout", "300"])
    printed = capsys.readouterr().out
    doc = json.loads(out.read_text())
    runs = doc["runs"]
    assert [r["script"] for r in runs] == [f"{s}.py" for s in benchmarks.SUITES[suite]]
    ran = [r for r in runs if r["status"] != "skipped"]
    if not ran:
        pytest.skip("; ".join(f"{r['script']}: {r['note']}" for r in runs))
    assert rc == 0, [(r["script"], r["note"]) for r in ran]
    for r in ran:
        assert r["status"] == "ok"
        assert f"=== {suite}: {r['script']}" in printed
        if "--json" in r["argv"]:
            assert isinstance(r["results"], (dict, list)) and r["results"]
    assert "fusegrad" in printed
