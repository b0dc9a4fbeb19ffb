"""fg.cuda answers without raising where CUDA is unusable, and CuPy is imported only on demand.

The subprocess tests hide CuPy (an import hook that raises ImportError) so they check the
"no CuPy" path on every machine, GPU or not.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fusegrad as fg

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str) -> subprocess.CompletedProcess:
    # The child imports the same fusegrad as this process (a checkout or an installed wheel).
    env = dict(os.environ)
    here = str(Path(fg.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [here, env.get("PYTHONPATH", "")] if p)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, cwd=str(ROOT), timeout=120)


HIDE_CUPY = """
import sys
class _NoCupy:
    def find_spec(self, name, path=None, target=None):
        if name == "cupy" or name.startswith("cupy."):
            raise ImportError("cupy hidden by the test")
        return None
sys.meta_path.insert(0, _NoCupy())
"""


def test_import_fusegrad_does_not_import_cupy():
    r = _run("""
        import sys
        import fusegrad as fg
        t = fg.tensor([1.0, 2.0]) * 2
        print("cupy" in sys.modules, "fusegrad.backend.cuda" in sys.modules)
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]


def test_without_cupy_queries_answer_and_cuda_tensor_raises():
    r = _run(HIDE_CUPY + """
import fusegrad as fg
print(fg.cuda.is_available(), fg.cuda.device_count())
print("REASON", fg.cuda.unavailable_reason())
fg.cuda.synchronize()
try:
    fg.tensor([1.0], device="cuda")
except RuntimeError as e:
    print("RAISED", e)
""")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "False 0"
    assert lines[1].startswith("REASON ") and "CuPy" in lines[1]
    assert lines[2].startswith("RAISED ") and "CuPy" in lines[2] and "cuda" in lines[2]


def test_queries_never_raise_here():
    avail = fg.cuda.is_available()
    assert isinstance(avail, bool)
    count = fg.cuda.device_count()
    assert isinstance(count, int)
    fg.cuda.synchronize()
    if avail:
        assert count >= 1 and fg.cuda.unavailable_reason() == ""
    else:
        assert count == 0 and fg.cuda.unavailable_reason() != ""


@pytest.mark.skipif(fg.cuda.is_available(), reason="a CUDA device is present")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
def test_cuda_tensor_raises_runtime_error_with_reason(device):
    with pytest.raises(RuntimeError) as info:
        fg.tensor([1.0], device=device)
    assert fg.cuda.unavailable_reason() in str(info.value)
    assert device in str(info.value)


@pytest.mark.skipif(fg.cuda.is_available(), reason="a CUDA device is present")
def test_moving_to_cuda_raises_runtime_error():
    t = fg.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="not usable"):
        t.to("cuda")
    with pytest.raises(RuntimeError, match="not usable"):
        t.cuda()


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device"):
        fg.tensor([1.0], device="gpu")


@pytest.mark.gpu
def test_cuda_tensor_round_trip():
    x = fg.tensor([1.0, -2.0, 3.5], device="cuda")
    assert x.device == "cuda"
    assert x.cpu().numpy().tolist() == [1.0, -2.0, 3.5]
    fg.cuda.synchronize()


@pytest.mark.gpu
def test_missing_device_index_raises():
    with pytest.raises(RuntimeError, match="does not exist"):
        fg.tensor([1.0], device=f"cuda:{fg.cuda.device_count()}")
