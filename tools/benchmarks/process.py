"""Process costs, each in fresh interpreters: import times, the load time of a ~10 MB model, and
the peak memory of a process that loads a small model and predicts."""

import json
import os
import statistics
import sys
import time

from . import models
from .configurations import LOAD_MODEL, MEMORY_CONFIG
from .timing import run_code

LOAD_FILE = "load_model.keras"

LOAD_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import kerasrnn_infer as kri
t1 = time.perf_counter()
kri.load_model(sys.argv[1])
t2 = time.perf_counter()
warm = []
for _ in range(5):
    t = time.perf_counter(); kri.load_model(sys.argv[1]); warm.append(time.perf_counter() - t)
warm.sort()
print(json.dumps({"import": t1 - t0, "first": t2 - t1, "warm": warm[2]}))
"""

KERAS_LOAD_CODE = r"""
import json, sys, time
import keras
keras.saving.load_model(sys.argv[1], compile=False)
warm = []
for _ in range(3):
    t = time.perf_counter(); keras.saving.load_model(sys.argv[1], compile=False)
    warm.append(time.perf_counter() - t)
warm.sort()
print(json.dumps({"warm": warm[1]}))
"""

# Peak resident set of this process in MB. VmHWM (per address space, reset by exec) rather than
# ru_maxrss: on Linux ru_maxrss survives fork+exec, so a child of a big parent reports the parent's
# high-water mark.
PEAK_RSS_CODE = r"""
import json, resource
try:
    with open("/proc/self/status") as f:
        peak = [int(l.split()[1]) for l in f if l.startswith("VmHWM:")][0] / 1024
except (OSError, IndexError):
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(peak))
"""

# label: (code, True to run it with --keras-numpy-python and KERAS_BACKEND=numpy)
IMPORT_CODE = {
    "python -c pass": ("pass", False),
    "import numpy, h5py": ("import numpy, h5py", False),
    "import kerasrnn_infer": ("import kerasrnn_infer", False),
    "import kerasrnn_infer, h5py": ("import kerasrnn_infer, h5py", False),
    "import tensorflow": ("import tensorflow", False),
    "import keras (TF backend)": ("import keras", False),
    "import keras (NumPy backend)": ("import keras", True),
}
KERAS_MEMORY_CODE = ("import numpy as np, keras\n"
                     "m = keras.saving.load_model(MODEL, compile=False)\n"
                     "m(np.load(INPUTS)[CID]); m.predict(np.load(INPUTS)[CID], verbose=0)")
MEMORY_CODE = {
    "numpy + h5py (import only)": ("import numpy, h5py", False),
    "kerasrnn_infer": ("import numpy as np, kerasrnn_infer as kri\n"
                       "m = kri.load_model(MODEL); m.predict(np.load(INPUTS)[CID])", False),
    "TensorFlow / Keras 3": (KERAS_MEMORY_CODE, False),
    "Keras 3 NumPy backend": (KERAS_MEMORY_CODE, True),
}


def write_load_model(workdir):
    """The ~10 MB model of the load time (MEMORY_CONFIG's is written with the grid's)."""
    models.write_keras_zip(os.path.join(workdir, LOAD_FILE),
                           *models.build_model(seed=1, **LOAD_MODEL))


def timed_subprocess(args, code, python=None, extra_env=None, reps=5):
    """Median wall time of `python -c code` in fresh interpreters, or an error string. One
    untimed run first writes the bytecode caches, as an installed package has them."""
    times = []
    run_code(args, code, python, extra_env, timeout=300)
    for _ in range(reps):
        t0 = time.perf_counter()
        r, why = run_code(args, code, python, extra_env, timeout=300)
        times.append(time.perf_counter() - t0)
        if why:
            return None, why
    return statistics.median(times), None


def subprocess_json(args, code, python=None, extra_env=None):
    """Run `python -c code`; (the JSON on its last stdout line, None) or (None, reason)."""
    r, why = run_code(args, code, python, extra_env)
    if why:
        return None, why
    try:
        return json.loads(r.stdout.strip().splitlines()[-1]), None
    except (ValueError, IndexError):
        return None, f"unexpected output {r.stdout[-200:]!r}"


def measure(args, workdir):
    """Import times, model load time and peak RSS, each in fresh subprocesses."""
    res = {"import": {}, "load": {}, "memory": {}}

    def where(knp):
        return (args.keras_numpy_python, {"KERAS_BACKEND": "numpy"}) if knp else (None, None)

    # bytecode as an installed package has it (pip compiles at install), kept out of the repo
    # even where PYTHONDONTWRITEBYTECODE is set
    args.pycache = os.path.join(workdir, "pycache")
    for label, (code, knp) in IMPORT_CODE.items():
        print(f"  import time: {label}", file=sys.stderr, flush=True)
        res["import"][label] = timed_subprocess(args, code, *where(knp), reps=args.import_reps)

    path = os.path.join(workdir, LOAD_FILE)
    res["load"]["file_mb"] = os.path.getsize(path) / 1e6
    print("  load time", file=sys.stderr, flush=True)
    res["load"]["engine"] = subprocess_json(args, LOAD_CODE.replace("sys.argv[1]", repr(path)))
    res["load"]["keras"] = subprocess_json(args, KERAS_LOAD_CODE.replace("sys.argv[1]", repr(path)))

    c = MEMORY_CONFIG
    prelude = (f"MODEL = {models.model_path(workdir, c)!r}\n"
               f"INPUTS = {os.path.join(workdir, models.INPUTS)!r}\nCID = {c['id']!r}\n")
    for label, (code, knp) in MEMORY_CODE.items():
        print(f"  peak memory: {label}", file=sys.stderr, flush=True)
        res["memory"][label] = subprocess_json(args, prelude + code + "\n" + PEAK_RSS_CODE,
                                               *where(knp))
    return res
