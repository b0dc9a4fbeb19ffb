"""``fusegrad bench``: run the ``bench/`` suites in one command and collect their results.

    fusegrad bench --suite kernels --threads 1 --json results.json
    python -m fusegrad.benchmarks --suite all --quick          # tiny sizes, seconds

Each suite is one or more scripts of ``bench/`` (shipped in the wheel as ``fusegrad/_bench``;
a checkout's ``bench/`` otherwise). Every script is runnable on its own, measures fusegrad
against NumPy and PyTorch (when installed) in the same run and prints its own table (time,
GB/s or GFLOP/s, % of the triad or of the estimated peak, ratios). This harness runs each
script in a fresh process (thread pools and BLAS environment start clean, as BENCHMARKING.md
asks), passes ``--threads/--device/--quick/--out`` through to the scripts that accept them,
collects each script's ``--json`` output, measures the machine's references once (a STREAM
triad and the estimated peak FLOP/s, via ``bench/common.py``) and writes one combined JSON.

Entry points for the CLI: ``add_arguments(parser)`` + ``run(args)``, or ``main(argv)``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Sequence

__all__ = ["SUITES", "add_arguments", "bench_dir", "main", "run", "run_bench", "suite_scripts"]

# --suite name -> scripts of bench/, in the order they run ("all" runs every suite).
SUITES: dict[str, tuple[str, ...]] = {
    "kernels": ("bench_elementwise", "bench_reduce", "bench_matmul"),
    "optim": ("bench_optim",),
    "norm": ("bench_norm", "bench_loss"),
    "mlp": ("bench_train",),
    "batch-size": ("bench_batch_size",),
    "autograd": ("bench_autograd",),
    "cuda": ("bench_cuda",),
}
_CUDA_ONLY = {"bench_cuda"}  # scripts that measure the GPU whatever --device says
SCHEMA = "fusegrad-bench/1"


def bench_dir() -> Path:
    """Folder of the suite scripts: the installed ``fusegrad/_bench``, else the checkout's
    ``bench/`` (running with ``PYTHONPATH=python``)."""
    try:
        from importlib.resources import files

        shipped = Path(str(files("fusegrad") / "_bench"))
        if (shipped / "common.py").is_file():
            return shipped
    except (ImportError, TypeError, OSError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "bench"
    if (checkout / "common.py").is_file():
        return checkout
    raise FileNotFoundError("fusegrad: the bench/ scripts are neither installed (fusegrad/_bench) "
                            f"nor in a checkout ({checkout})")


def suite_scripts(suite: str, device: str = "cpu") -> list[str]:
    """Script stems a --suite name runs ("all": every suite; the CUDA suite only on cuda)."""
    if suite == "all":
        names = [s for s in SUITES if s != "cuda" or device.startswith("cuda")]
    elif suite in SUITES:
        names = [suite]
    else:
        raise ValueError(f"unknown suite {suite!r}: expected one of {', '.join(SUITES)} or all")
    return [script for name in names for script in SUITES[name]]


def _suite_of(script: str) -> str:
    return next(name for name, scripts in SUITES.items() if script in scripts)


def _flags(path: Path) -> set[str]:
    """The --options a script declares (read from its argparse calls, without running it)."""
    text = path.read_text()
    return set(re.findall(r"add_argument\(\s*[\"'](--[\w-]+)[\"']", text))


# ---- command line -----------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``fusegrad bench`` (the CLI adds them to its subcommand parser)."""
    p.add_argument("--suite", default="all", choices=[*SUITES, "all"],
                   help="which suite to run (default: all)")
    p.add_argument("--device", default="cpu",
                   help="cpu or cuda[:N]; scripts without a --device option run only on cpu")
    p.add_argument("--threads", default=None,
                   help="thread count(s) passed to each script, e.g. 1 or 1,2 "
                        "(default: each script's own)")
    p.add_argument("--json", default=None, metavar="FILE",
                   help="write every script's results and the machine references here")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for plots and tables of the scripts that write them")
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and few repeats (a smoke test: figures are not meaningful)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds after which a script is stopped and marked failed")
    p.add_argument("--list", action="store_true", help="list the suites and their scripts")
    p.add_argument("--bench-dir", default=None, metavar="DIR",
                   help="run the scripts of this folder instead of the shipped ones")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fusegrad bench",
                                description="Benchmarks of fusegrad against NumPy and PyTorch.")
    add_arguments(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``fusegrad bench`` with these arguments; returns the exit status (1 if a script failed)."""
    return run(_parser().parse_args(list(sys.argv[1:] if argv is None else argv)))


run_bench = main


# ---- running ----------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    """The environment of a script: this fusegrad importable (checkout runs), the rest as is."""
    env = dict(os.environ)
    pkg_parent = str(Path(__file__).resolve().parents[1])
    parts = [pkg_parent] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(parts))
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _script_argv(flags: set[str], args: argparse.Namespace, json_path: str,
                 out_dir: str | None) -> tuple[list[str], list[str]]:
    """(arguments for a script, notes on options it does not take)."""
    argv, notes = [], []
    if args.quick:
        argv.append("--quick")
    if args.threads is not None:
        if "--threads" in flags:
            argv += ["--threads", str(args.threads)]
        else:
            notes.append("no --threads option: its own thread setting")
    if args.device != "cpu" and "--device" in flags:
        argv += ["--device", args.device]
    if out_dir is not None and "--out" in flags:
        argv += ["--out", out_dir]
    if "--json" in flags:
        argv += ["--json", json_path]
    return argv, notes


def _run_script(path: Path, argv: list[str], timeout: float | None) -> tuple[int, str, float]:
    """Run one script, echoing its output as it comes; (return code, output, seconds)."""
    cmd = [sys.executable, str(path), *argv]
    t0 = time.perf_counter()
    lines: list[str] = []
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=_child_env(), bufsize=1)

    def echo() -> None:  # a thread, so that a silent, hung script still meets the timeout
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            lines.append(line)

    reader = threading.Thread(target=echo, daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        lines.append(f"[stopped after {timeout:.0f} s]\n")
        rc = -9
    reader.join(timeout=5)
    if proc.stdout is not None:
        proc.stdout.close()
    sys.stdout.flush()
    return rc, "".join(lines), time.perf_counter() - t0


def _machine(args: argparse.Namespace, bdir: Path) -> dict:
    """CPU, library versions and the two references (triad, peak) measured in this run."""
    info: dict[str, Any] = {"platform": platform.platform(), "python": platform.python_version(),
                            "cores": os.cpu_count()}
    try:
        with open("/proc/cpuinfo") as f:
            model = next((ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")),
                         None)
        info["cpu"] = model
    except OSError:
        info["cpu"] = platform.processor() or None
    import numpy

    import fusegrad

    info["numpy"] = numpy.__version__
    info["fusegrad"] = getattr(fusegrad, "__version__", None)
    info["torch"] = _torch_version()
    try:
        common = _load_common(bdir)
        threads = _thread_list(args.threads) or [fusegrad.get_num_threads()]
        refs = []
        for t in threads:
            fusegrad.set_num_threads(t)
            n = 1 << 20 if args.quick else 1 << 24
            tri = common.measure_triad(n=n, min_time=0.02 if args.quick else 0.2)
            peak = common.peak_gflops(threads=t)
            refs.append({"threads": t, "triad": tri, "peak": peak})
        info["references"] = refs
    except Exception as e:  # the references are context, not results: report and go on
        info["references"] = []
        info["references_error"] = f"{type(e).__name__}: {e}"
    return info


def _load_common(bdir: Path) -> Any:
    """bench/common.py of ``bdir`` as a module (by path: a ``common`` already imported from
    elsewhere must not be picked up)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_fusegrad_bench_common", bdir / "common.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {bdir / 'common.py'}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def _torch_version() -> str | None:
    """PyTorch's version without importing it (an import costs seconds)."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("torch")
    except (ImportError, PackageNotFoundError):
        return None


def _thread_list(threads: str | None) -> list[int]:
    if not threads:
        return []
    return [int(t) for t in str(threads).split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    """Run the suites ``args`` name (see ``add_arguments``); returns the exit status."""
    bdir = Path(args.bench_dir) if args.bench_dir else bench_dir()
    scripts = suite_scripts(args.suite, args.device)
    if args.list:
        for name in SUITES:
            parts = []
            for s in SUITES[name]:
                parts.append(s + ("" if (bdir / f"{s}.py").is_file() else " (missing)"))
            print(f"{name:11} {', '.join(parts)}")
        print(f"scripts in {bdir}")
        return 0

    print(f"fusegrad bench: suite {args.suite}, device {args.device}"
          + (f", threads {args.threads}" if args.threads else "")
          + (", quick (tiny sizes: figures are not meaningful)" if args.quick else ""))
    machine = _machine(args, bdir)
    for ref in machine.get("references", []):
        tri, peak = ref["triad"], ref["peak"]
        print(f"  {ref['threads']} thread(s): {tri['label']} {tri['gbps']:.1f} GB/s; "
              f"{peak['label']}: {peak['gflops']:.0f} GFLOP/s float32")
    if machine.get("references_error"):
        print(f"  machine references unavailable: {machine['references_error']}")

    out_dir = args.out
    if out_dir is not None:
        os.makedirs(out_dir, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="fusegrad-bench-") as tmp:
        for script in scripts:
            runs.append(_run_one(script, bdir, args, tmp, out_dir))

    _print_ceilings(runs, machine)
    print("\nsummary")
    width = max(len(r["script"]) for r in runs) if runs else 6
    print(f"{'suite':11} {'script':{width}} {'status':8} {'seconds':>8}  note")
    for r in runs:
        print(f"{r['suite']:11} {r['script']:{width}} {r['status']:8} {r['seconds']:8.1f}  "
              f"{r['note']}".rstrip())

    if args.json:
        doc = {"schema": SCHEMA,
               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(),
               "options": {"suite": args.suite, "device": args.device, "threads": args.threads,
                           "quick": bool(args.quick)},
               "machine": machine, "runs": runs}
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=1, default=_json_default)
        print(f"wrote {args.json}")
    return 1 if any(r["status"] == "failed" for r in runs) else 0


def _run_one(script: str, bdir: Path, args: argparse.Namespace, tmp: str,
             out_dir: str | None) -> dict:
    path = bdir / f"{script}.py"
    rec: dict[str, Any] = {"suite": _suite_of(script), "script": path.name, "status": "skipped",
                           "returncode": None, "seconds": 0.0, "argv": [], "note": "",
                           "results": None, "ceilings": []}
    if not path.is_file():
        rec["note"] = "script not present in this version"
        return rec
    flags = _flags(path)
    on_cuda = args.device.startswith("cuda")
    if on_cuda and "--device" not in flags and script not in _CUDA_ONLY:
        rec["note"] = "CPU-only script (no --device option)"
        return rec
    if script in _CUDA_ONLY and not on_cuda:
        rec["note"] = "runs only with --device cuda"
        return rec
    if args.quick and "--quick" not in flags:
        rec["note"] = "no --quick mode"
        return rec
    json_path = os.path.join(tmp, f"{script}.json")
    argv, notes = _script_argv(flags, args, json_path, out_dir)
    print(f"\n=== {rec['suite']}: {path.name} {' '.join(argv)}", flush=True)
    rc, output, seconds = _run_script(path, argv, args.timeout)
    rec.update(argv=argv, returncode=rc, seconds=round(seconds, 3),
               status="ok" if rc == 0 else "failed")
    if rc != 0:
        tail = output.strip().splitlines()[-1:] or [""]
        notes.append(f"exit {rc}: {tail[0][:120]}")
    if os.path.isfile(json_path):
        try:
            with open(json_path) as f:
                rec["results"] = json.load(f)
        except ValueError as e:
            notes.append(f"unreadable JSON: {e}")
    elif "--json" not in flags:
        notes.append("no --json option: table only")
    rec["note"] = "; ".join(notes)
    return rec


def _rows_with(obj: Any, key: str) -> list[dict]:
    """Every dict inside a script's JSON that has a numeric ``key`` (its result rows)."""
    found: list[dict] = []
    if isinstance(obj, dict):
        if isinstance(obj.get(key), (int, float)):
            found.append(obj)
        for v in obj.values():
            found += _rows_with(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += _rows_with(v, key)
    return found


def _print_ceilings(runs: list[dict], machine: dict) -> None:
    """Rows the scripts report as ``fusegrad_gbps`` / ``fusegrad_gflops`` (the convention of
    bench/common.py users), as % of this run's triad / estimated peak; stored in the JSON
    as each run's ``ceilings``."""
    refs = {r["threads"]: r for r in machine.get("references", [])}
    if not refs:
        return
    lines = []
    for run in runs:
        run["ceilings"] = []
        for key, ref_key, unit in (("fusegrad_gbps", "triad", "GB/s"),
                                   ("fusegrad_gflops", "peak", "GFLOP/s")):
            for row in _rows_with(run.get("results"), key):
                threads = row.get("threads")
                if threads not in refs:
                    threads = (run["results"].get("threads") if isinstance(run["results"], dict)
                               else None)
                ref = refs.get(threads) or next(iter(refs.values()))
                ceiling = ref[ref_key]["gbps" if ref_key == "triad" else "gflops"]
                label = " ".join(str(row[k]) for k in ("group", "kernel", "label", "case", "name")
                                 if k in row)
                pct = 100 * row[key] / ceiling if ceiling == ceiling and ceiling > 0 else None
                run["ceilings"].append({"row": label, "value": row[key], "unit": unit,
                                        "of": ref_key, "threads": ref["threads"], "pct": pct})
                lines.append((run["script"], label, row[key], unit, pct, ref_key,
                              ref["threads"]))
    if not lines:
        return
    print("\nfusegrad against this run's ceilings (triad = measured STREAM triad, peak = "
          "estimated FLOP/s)")
    w0 = max(len(x[0]) for x in lines)
    w1 = max(len(x[1]) for x in lines)
    for script, label, value, unit, pct, of, threads in lines:
        pct_s = f"{pct:5.1f}% of {of}" if pct is not None else "-"
        print(f"  {script:{w0}}  {label:{w1}}  {value:8.2f} {unit:7}  {pct_s} "
              f"({threads} thread{'s' if threads != 1 else ''})")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


if __name__ == "__main__":
    sys.exit(main())
