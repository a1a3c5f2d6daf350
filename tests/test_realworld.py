"""The real-world corpus (../shared/realworld): real Keras files, Keras 1.1 to 3.15."""

import os

import pytest

from _cases import check_model, load, read_case
from conftest import REALWORLD
from custom_layers import CUSTOM_OBJECTS

CASES = sorted(d for d in os.listdir(REALWORLD)
               if os.path.isfile(os.path.join(REALWORLD, d, "case.json"))) \
    if os.path.isdir(REALWORLD) else []


@pytest.mark.skipif(not CASES, reason=f"real-world corpus not found at {REALWORLD}")
@pytest.mark.parametrize("name", CASES or ["none"])
def test_realworld_case(name):
    d = os.path.join(REALWORLD, name)
    spec, io = read_case(d)
    custom = CUSTOM_OBJECTS if spec.get("custom_layers") else None
    model = load(d, spec["load"], custom)
    if "call0/out/0" not in io:
        return
    check_model(model, spec, io)


def _cli_model_args(d, spec):
    """The command line that names case ``d``'s model: the file, or the weights file with
    --architecture; --custom with the corpus's custom layers (tests/custom_layers.py)."""
    load_spec = spec["load"]
    if "path" in load_spec:
        argv = [os.path.join(d, load_spec["path"])]
    else:
        argv = [os.path.join(d, load_spec["weights"]),
                "--architecture", os.path.join(d, load_spec["json"])]
    if spec.get("custom_layers"):
        argv += ["--custom", os.path.join(os.path.dirname(__file__), "custom_layers.py")]
    return argv


@pytest.mark.skipif(not CASES, reason=f"real-world corpus not found at {REALWORLD}")
@pytest.mark.parametrize("name", CASES or ["none"])
def test_realworld_case_from_the_command_line(name, tmp_path, capsys):
    """info, predict and verify --golden (the corpus's io.npz holds Keras's inputs and
    outputs in the golden layout) from the command line alone, custom-layer and weights-only
    models included."""
    import numpy as np
    from kerasrnn_infer import cli
    d = os.path.join(REALWORLD, name)
    spec, io = read_case(d)
    model_args = _cli_model_args(d, spec)
    assert cli.main(["info", *model_args]) == 0
    assert "total params" in capsys.readouterr().out
    if spec.get("calls") != ["predict"] or "call0/out/0" not in io:
        return                        # stateful call sequences: the API test covers them
    out = str(tmp_path / "out.npz")
    assert cli.main(["predict", *model_args, "-i", os.path.join(d, "io.npz"), "-o", out]) == 0
    tol = spec.get("tol", 1e-5)
    with np.load(out) as z:
        got = [z[k] for k in z.files]
    wants = [io[f"call0/out/{j}"] for j in range(sum(k.startswith("call0/out/") for k in io))]
    assert len(got) == len(wants)
    for g, w in zip(got, wants):
        assert float(np.max(np.abs(g.astype(np.float64) - w))) <= tol
    capsys.readouterr()
    code = cli.main(["verify", *model_args, "--golden", os.path.join(d, "io.npz"),
                     "--atol", str(tol), "--rtol", "0"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "PASS" in text.splitlines()[-1]
