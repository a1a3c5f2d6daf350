"""Loading and running never imports TensorFlow or Keras, and import is light."""

import os
import subprocess
import sys

from conftest import FIXTURES, ROOT

SCRIPT = r"""
import sys, os, glob
import numpy as np
import kerasrnn_infer as kri
assert "h5py" not in sys.modules, "import kerasrnn_infer must not import h5py eagerly"
done = 0
for case in sorted(glob.glob(os.path.join(sys.argv[1], "*", "case.json")))[:12]:
    d = os.path.dirname(case)
    for f in ("model.keras", "model.h5"):
        p = os.path.join(d, f)
        if os.path.exists(p):
            m = kri.load_model(p)
            io = np.load(os.path.join(d, "io.npz"))
            n = sum(1 for k in io.files if k.startswith("in/"))
            xs = [io[f"in/{i}"] for i in range(n)]
            m.predict(xs if n > 1 else xs[0])
            done += 1
bad = sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "keras", "tf_keras", "jax", "torch"))
assert not bad, bad
assert done >= 5, done
print("ok", done)
"""


def test_loading_never_imports_tensorflow_or_keras():
    env = dict(os.environ, PYTHONPATH=ROOT)
    r = subprocess.run([sys.executable, "-c", SCRIPT, FIXTURES], capture_output=True,
                       text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")


def test_numba_is_imported_only_for_the_compiled_kernel():
    """``import kerasrnn_infer`` never imports numba; with KERASRNN_INFER_JIT=0 loading and
    running a recurrent model does not either (numba costs 0.3-1.5 s and ~100 MB)."""
    code = ("import sys, glob, os, numpy as np, kerasrnn_infer as kri\n"
            "assert 'numba' not in sys.modules\n"
            "m = kri.load_model(os.path.join(sys.argv[1], 'rnn_basic__keras3', 'model.keras'))\n"
            "m.predict(np.zeros((1, 7, 4), np.float32))\n"
            "assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules\n"
            "print('ok')\n")
    env = dict(os.environ, PYTHONPATH=ROOT, KERASRNN_INFER_JIT="0")
    r = subprocess.run([sys.executable, "-c", code, FIXTURES], capture_output=True, text=True,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.startswith("ok")
