#!/usr/bin/env python
"""Benchmark kerasrnn_infer against TensorFlow/Keras 3, the Keras 3 NumPy backend and onnxruntime.

How to run (from the repository root)::

    python tools/bench.py --quick                 # < 2 min, no TensorFlow needed: this engine
                                                  # alone + float64 NumPy self-check
    python tools/bench.py --quick --configs 1 --threads 1   # tiny smoke run (used by CI)
    python tools/bench.py                         # full grid, all installed peers (~10-15 min)
    python tools/bench.py --write-docs            # ... and write docs/benchmarks.md
    python tools/bench.py --keras-numpy-python /path/to/python   # interpreter for the
                                                  # Keras-NumPy-backend peer (needs scipy + jax)
    python tools/bench.py --unset-openblas-env    # drop OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in
                                                  # the measuring subprocesses
    python tools/bench.py --conv --write-docs     # the convolutional rows instead (CRNN, LRCN,
                                                  # ConvLSTM2D written by Keras 3; needs
                                                  # TensorFlow, onnxruntime + tf2onnx for that
                                                  # peer): docs/benchmarks_conv.md

The Keras NumPy backend imports scipy and jax. If the interpreter lacks them, that peer is
reported unavailable with the missing packages. One way to measure it without touching the main
environment is an overlay venv that sees the main site-packages::

    python -m venv /tmp/knp && echo "$(python -c 'import site; print(site.getsitepackages()[0])')" \
        > /tmp/knp/lib/python3.11/site-packages/main.pth && /tmp/knp/bin/pip install scipy jax
    python tools/bench.py --keras-numpy-python /tmp/knp/bin/python

What it does
------------
* Models are written **by hand** (no Keras needed, with the writer of ``tests/_build.py``): a
  Keras 3 ``.keras`` zip with ``config.json``, ``metadata.json`` and ``model.weights.h5`` in the
  Keras 3 layout, one ``Sequential(InputLayer, <RNN>)`` per (layer, features, units) with seeded
  random weights.
  Keras 3 loads these files too, so every peer runs the very same file on the very same inputs.
* The grid covers LSTM, GRU, SimpleRNN and Bidirectional(LSTM), batch 1-256, 10-400 steps,
  32-512 units, float32, last-step output (``return_sequences=False``).
* Each BLAS thread setting (``1`` and the library ``default``) runs in its own subprocess of this
  script, with ``OMP/OPENBLAS/MKL_NUM_THREADS`` set before NumPy is imported. In the 1-thread run
  TensorFlow uses ``set_intra_op_parallelism_threads(1)`` / ``inter_op(1)`` and onnxruntime
  ``intra_op_num_threads=1``.
* Peers (each reported "unavailable: <reason>" if it cannot run; the run never stops for it):
  - ``engine``        kerasrnn_infer ``load_model(path).predict(x)``
  - ``numpy-loop``    the readable reference cells (``kerasrnn_infer.cells``) in float32
  - ``keras.predict`` Keras 3 / TF ``model.predict(x, verbose=0, batch_size=len(x))``
  - ``keras.call``    Keras 3 / TF ``model(x, training=False)``
  - ``tf.function``   ``tf.function(model(x, training=False), jit_compile=False)``, warmed up
  - ``onnxruntime``   tf2onnx conversion of that tf.function, run by onnxruntime (CPU)
  - ``keras-numpy``   Keras 3 with ``KERAS_BACKEND=numpy`` in a separate subprocess
    (``model(x)``; its ``predict`` is timed too). It needs scipy and jax.
* Timings are medians over repeats (round-robin across peers, after warm-up calls); the number of
  repeats adapts to a per-measurement time budget (``--budget``). Ratios are peer time / engine
  time, so ">1x" means the engine is faster.
* Correctness: every output is compared with Keras's ``model(x)`` (max abs diff, must be <= 1e-5)
  and the engine with ``kerasrnn_infer.cells`` run in float64 (the self-check).
* Full mode also measures import time (fresh interpreters, median of 5), load time of a ~10 MB
  LSTM file, and peak RSS (VmHWM) of a process that loads a small model and predicts.

The code is the package ``tools/benchmarks/``, one module per concern: ``configurations``
(the grids), ``models`` (the files and inputs), ``reference`` (the self-check's reference),
``timing`` (round-robin timing, workers, thread environment), ``peers``, ``process`` (import,
load, memory), ``report`` (tables, docs/benchmarks.md) and ``cli``.

Exit status: 0 unless the engine failed or disagreed with the float64 reference / Keras by more
than 1e-5 (unavailable peers never fail the run).
"""

import sys

from benchmarks.cli import main   # tools/ is on the path: it holds this script

if __name__ == "__main__":
    sys.exit(main(__doc__))
