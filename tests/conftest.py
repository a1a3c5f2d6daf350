import importlib.util
import os
import sys
import threading

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "fixtures")
REALWORLD = os.path.join(os.path.dirname(ROOT), "shared", "realworld")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run_in_threads(worker, n: int) -> None:
    """``worker(seed)`` for seeds 0..n-1, all at once in threads; returns when all end."""
    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def have_tensorflow() -> bool:
    return importlib.util.find_spec("tensorflow") is not None


@pytest.fixture(scope="session")
def fixtures_dir():
    return FIXTURES


HAVE_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.fixture(params=["numpy", "compiled"])
def each_kernel(request, monkeypatch):
    """Run a test with each recurrent kernel: the NumPy one, and the compiled one (the jit
    extra) where numba is installed; chosen through KERASRNN_INFER_JIT."""
    if request.param == "compiled" and not HAVE_NUMBA:
        pytest.skip("numba is not installed (the jit extra)")
    monkeypatch.setenv("KERASRNN_INFER_JIT", "1" if request.param == "compiled" else "0")
    return request.param
