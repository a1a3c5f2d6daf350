"""Every fixture in fixtures/ (made by tools/make_fixtures.py with real Keras 3 and tf-keras),
in every file format it was saved in, matches Keras's outputs and per-layer outputs."""

import importlib.util
import os

import pytest

from kerasrnn_infer.kernels import LayoutPolicy, layout_policy

from _cases import check_model, load, read_case
from conftest import FIXTURES


def _params():
    out = []
    if not os.path.isdir(FIXTURES):
        return out
    for name in sorted(os.listdir(FIXTURES)):
        d = os.path.join(FIXTURES, name)
        if not os.path.isfile(os.path.join(d, "case.json")):
            continue
        spec, _ = read_case(d)
        for ls in [spec["load"]] + spec.get("also_load", []):
            label = ls.get("path") or f"{ls['json']}+{ls['weights']}"
            out.append(pytest.param(name, ls, id=f"{name}:{label}"))
    return out


PARAMS = _params()


def test_fixtures_exist():
    assert len(PARAMS) >= 36, "fixtures/ is missing; run tools/make_fixtures.py"


# The NumPy kernel picks buffer layouts and product forms by batch size
# (kernels.LayoutPolicy); fixtures hold small batches, so every form is forced in turn: rows
# (as chosen for these batches), feature-major columns, and the batch-1 form (GRU's folded
# product) at every batch. "compiled" is the numba kernel (the jit extra), where installed.
LAYOUTS = {"rows": LayoutPolicy.forced(columns=False),
           "columns": LayoutPolicy.forced(columns=True),
           "batch1-forms": LayoutPolicy.forced(columns=False, fold=True),
           "compiled": None}
HAVE_NUMBA = importlib.util.find_spec("numba") is not None


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("name,load_spec", PARAMS)
def test_fixture_matches_keras(name, load_spec, layout):
    if layout == "compiled" and not HAVE_NUMBA:
        pytest.skip("numba is not installed (the jit extra)")
    d = os.path.join(FIXTURES, name)
    spec, io = read_case(d)
    model = load(d, load_spec, jit=layout == "compiled")
    policy = LAYOUTS[layout]
    if policy is None:
        worst = check_model(model, spec, io)
    else:
        with layout_policy(policy):
            worst = check_model(model, spec, io)
    assert worst <= spec.get("tol", 1e-5)
