"""Every csrc/cuda/*.cu compiles without a GPU, two ways, and exports the kernels the backend asks for.

1. ``nvcc --ptx`` for sm_80 and sm_90 with ``-I csrc`` (nvcc is on our machines).
2. NVRTC, the compiler CuPy really uses at run time (stricter: no ``<cmath>``), through CuPy's
   low-level ``cupy.cuda.nvrtc`` binding, which needs no device (TOOLCHAIN.md §4(c)), once per
   ``-DFG_CUDA_DTYPE_*`` module exactly as backend/cuda.py builds them.

The PTX of each file must contain an ``.entry`` for every name in
``fusegrad.backend.cuda.kernel_names()`` (for each X-list op x direction x dtype). Skips when
the toolchain is missing, except under CI (env ``CI`` set), where a missing toolchain fails.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fusegrad.backend import cuda as cuda_backend

ROOT = Path(__file__).resolve().parents[2]
CSRC = ROOT / "csrc"
SOURCES = sorted((CSRC / "cuda").glob("*.cu"))
STEMS = [p.stem for p in SOURCES]
IN_CI = bool(os.environ.get("CI"))


def _missing(what: str) -> None:
    """Skip, or fail under CI where the toolchain is installed on purpose."""
    if IN_CI:
        pytest.fail(f"CI must compile the CUDA sources but {what}")
    pytest.skip(what)


def _entries(ptx: str) -> set[str]:
    return set(re.findall(r"\.entry\s+(\w+)\s*\(", ptx))


def _expected(stem: str, dtypes: tuple[str, ...] = ("f32", "f64")) -> set[str]:
    names = {f"{k}_{d}" for k in cuda_backend.kernel_names().get(stem, []) for d in dtypes}
    return names | set(cuda_backend.DTYPE_FREE.get(stem, []))


def test_every_backend_stem_has_a_source():
    assert set(cuda_backend.kernel_names()) <= set(STEMS)
    assert CSRC.joinpath("cuda", "common.cuh").is_file()


def test_sources_found_by_the_backend_are_these():
    # From a checkout (PYTHONPATH=python) the backend falls back to csrc/; from a wheel it
    # uses fusegrad/_csrc: either way the same files.
    d = cuda_backend.csrc_dir()
    assert {p.name for p in (d / "cuda").glob("*.cu")} == {p.name for p in SOURCES}
    assert (d / "math" / "unary.h").read_text() == (CSRC / "math" / "unary.h").read_text()


def test_xlist_parser_reads_every_op():
    # Every X(...) entry of the headers' lists, counted independently of the parser.
    for header, macro, kind in (("unary.h", "FG_UNARY_OPS", "unary"),
                                ("binary.h", "FG_BINARY_OPS", "binary"),
                                ("binary.h", "FG_COMPARE_OPS", "compare")):
        text = (CSRC / "math" / header).read_text()
        body = text[text.index(f"#define {macro}(X)"):]
        lines = []
        for line in body.splitlines():
            lines.append(line)
            if not line.rstrip().endswith("\\"):
                break
        count = sum(line.count(" X(") for line in lines)
        ops = cuda_backend.op_lists()[kind]
        assert len(ops) == count and len(set(ops)) == count, (macro, ops)


# ---- nvcc --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def nvcc() -> str:
    exe = shutil.which("nvcc") or next(
        (p for p in ("/usr/local/cuda/bin/nvcc", "/usr/local/bin/nvcc") if os.path.exists(p)), None)
    if exe is None:
        _missing("nvcc is not on PATH")
    return exe


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("src", SOURCES, ids=STEMS)
def test_nvcc_ptx_compiles_and_exports_kernels(nvcc, src, arch, tmp_path):
    out = tmp_path / f"{src.stem}.ptx"
    r = subprocess.run([nvcc, "--ptx", f"-arch={arch}", "-std=c++17", "-I", str(CSRC),
                        str(src), "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, f"nvcc failed on {src.name} ({arch}):\n{r.stderr}"
    missing = _expected(src.stem) - _entries(out.read_text())
    assert not missing, f"{src.name}: kernels missing from the PTX: {sorted(missing)}"


# ---- NVRTC (what CuPy uses at run time) -------------------------------------------------------
@pytest.fixture(scope="module")
def nvrtc():
    try:
        from cupy.cuda import nvrtc as binding

        binding.getVersion()  # loads libnvrtc: DynamicLibNotFoundError without the wheel
    except Exception as e:  # ImportError, or the NVRTC library missing
        _missing(f"CuPy's NVRTC binding is not usable ({e.__class__.__name__}: {e}); "
                 "pip install .[cudacheck]")
    return binding


# Options CuPy 14 adds to every RawModule compile (cupy/cuda/compiler.py): flush denormals to
# zero, and functions without an execution-space annotation compile as __device__.
CUPY_ADDS = ["-ftz=true", "--device-as-default-execution-space"]


def _nvrtc_ptx(binding, src: Path, extra: list[str]) -> str:
    code, options = cuda_backend._source(src.stem)
    prog = binding.createProgram(code, src.name, [], [])
    try:
        try:
            binding.compileProgram(prog, [*options, *CUPY_ADDS, "-arch=compute_90", *extra])
        except Exception as e:
            pytest.fail(f"NVRTC failed on {src.name} {extra}: {e}\n{binding.getProgramLog(prog)}")
        ptx = binding.getPTX(prog)
    finally:
        binding.destroyProgram(prog)
    return ptx.decode() if isinstance(ptx, bytes) else ptx


@pytest.mark.slow
@pytest.mark.parametrize("sfx", ["f32", "f64"])
@pytest.mark.parametrize("src", SOURCES, ids=STEMS)
def test_nvrtc_compiles_each_dtype_module(nvrtc, src, sfx):
    # backend/cuda.py builds one module per (file, dtype) with -DFG_CUDA_DTYPE_<F32|F64>, exactly
    # these options; the two modules together hold every kernel (nvcc checks the combined build).
    entries = _entries(_nvrtc_ptx(nvrtc, src, [f"-DFG_CUDA_DTYPE_{sfx.upper()}"]))
    missing = _expected(src.stem, (sfx,)) - entries
    assert not missing, f"{src.name} ({sfx} module): missing {sorted(missing)}"
    other = "f64" if sfx == "f32" else "f32"
    stray = _expected(src.stem, (other,)) & entries - set(cuda_backend.DTYPE_FREE.get(src.stem, []))
    assert not stray, f"{src.name} ({sfx} module) also builds {sorted(stray)}"
