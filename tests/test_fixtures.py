"""Every fixture in fixtures/ (made by tools/make_fixtures.py with real Keras 3 and tf-keras,
and in fixtures/tf/ by tools/make_tf_fixtures.py with TensorFlow 2.12, 2.13, 2.15 and 2.21:
SavedModel directories, TF checkpoints, Keras-2 .keras zips, tf-op layers), in every file
format it was saved in, matches Keras's outputs and per-layer outputs."""

import importlib.util
import os

import pytest

from kerasrnn_infer.kernels import LayoutPolicy, layout_policy

from _cases import check_model, load, read_case
from conftest import FIXTURES
from custom_layers import CUSTOM_OBJECTS


def _case_dirs():
    for base, prefix in ((FIXTURES, ""), (os.path.join(FIXTURES, "tf"), "tf/")):
        if os.path.isdir(base):
            for name in sorted(os.listdir(base)):
                if os.path.isfile(os.path.join(base, name, "case.json")):
                    yield prefix + name


def _params():
    out = []
    for name in _case_dirs():
        spec, _ = read_case(os.path.join(FIXTURES, name))
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
    model = load(d, load_spec, CUSTOM_OBJECTS if spec.get("custom_layers") else None,
                 jit=layout == "compiled")
    policy = LAYOUTS[layout]
    if policy is None:
        worst = check_model(model, spec, io)
    else:
        with layout_policy(policy):
            worst = check_model(model, spec, io)
    assert worst <= spec.get("tol", 1e-5)
