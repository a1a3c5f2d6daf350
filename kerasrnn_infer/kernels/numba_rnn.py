"""The compiled recurrent kernel (``pip install kerasrnn-infer[jit]``): SimpleRNN, LSTM and
GRU cells run by numba-compiled loops, tested against ``kerasrnn_infer.cells``.

Up to ``FUSED_UP_TO`` samples, one compiled call runs the whole sequence: the input
projection ``x W + b`` of every timestep is one BLAS product beforehand; then, per timestep,
the recurrent product ``h U`` (NumPy's own BLAS called from the compiled loop from
``BLAS_FROM`` samples on, a hand-written loop below: kernels/_blas.py) and each sample's gates
in one vectorised loop, so a timestep costs no Python call at all. Larger batches run the
NumPy kernel: there its products and NumPy's vectorised elementwise calls are as fast, and a
middle form (NumPy's product per step plus one compiled call for the gates) was measured
slower than the NumPy kernel. Both thresholds are measured by ``tools/bench.py --jit``.

Numbers: the same formulas as the NumPy kernel (sigmoid as ``0.5 tanh(x / 2) + 0.5``); float32
``tanh`` is computed in float64 and rounded (kernels/_numba_impl.py), products are summed in
another order, so results differ from the NumPy kernel by float rounding only (tests hold
them within 1e-6 of it and of the reference). For one input shape the results are the same
bits on every call and thread. Stacked cells run one after the other over the whole
sequence, which gives the same numbers as interleaving them per step (a masked step changes
no cell's state). Activations outside ``ACTIVATIONS``, and dtypes other than float32 and
float64, get the NumPy kernel, per layer.

Compiled code is cached on disk (numba ``cache=True``): in ``__pycache__`` next to
``_numba_impl.py`` when the package directory is writable, else numba's per-user cache
directory (``~/.cache/numba`` on Linux), or ``NUMBA_CACHE_DIR`` when set. A model's kernels
are compiled, or loaded from that cache, when the model is loaded, never inside ``predict``.
"""

from __future__ import annotations

import threading
from typing import Optional, Sequence

import numpy as np

from .. import activations as A
from ..cells import CellSpec, CellWeights

FUSED_UP_TO = 8           # batch sizes run whole-sequence in one compiled call (measured)
BLAS_FROM = 1             # from this batch size on, NumPy's BLAS (measured: docs/jit.md)

# activation -> code understood by the compiled kernels
ACTIVATIONS = {A.linear: 0, A.tanh: 1, A.sigmoid: 2, A.relu: 3, A.hard_sigmoid_keras2: 4,
               A.hard_sigmoid_keras3: 5, A.softsign: 6, A.relu6: 7}

_KINDS = {"simple_rnn": 0, "lstm": 1, "gru": 2}
_NUMBA = None
_LOCK = threading.Lock()


def available() -> bool:
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def blas_source() -> str:
    """Which product the compiled loop uses from ``BLAS_FROM`` samples on: NumPy's BLAS (the
    symbol found) or its own (and why)."""
    from . import _blas
    return _blas.source()


def supports(specs: Sequence[CellSpec]) -> bool:
    """Whether every cell (its kind, activations, dtype) has a compiled form (else: the NumPy
    kernel)."""
    return all(s.kind in _KINDS and s.activation in ACTIVATIONS and
               (s.recurrent_activation is None or s.recurrent_activation in ACTIVATIONS) and
               s.dtype in (np.dtype(np.float32), np.dtype(np.float64)) for s in specs)


def _compiled():
    """The compiled functions (numba is imported, and they are compiled, on first use)."""
    global _NUMBA
    if _NUMBA is None:
        with _LOCK:
            if _NUMBA is None:
                _NUMBA = _build()
    return _NUMBA


def _build():
    from . import _numba_impl
    return {"seq": _numba_impl.SEQ, "blas": _numba_impl.HAVE_BLAS}




class _Cell:
    """One cell's weights as the compiled loops take them."""

    def __init__(self, spec: CellSpec, w: CellWeights):
        dt = spec.dtype
        self.spec = spec
        self.kind = _KINDS[spec.kind]
        self.units = spec.units
        self.W = np.ascontiguousarray(w.kernel, dt)
        self.U = np.ascontiguousarray(w.recurrent_kernel, dt)
        g = self.W.shape[1]
        if w.bias is None:
            b_in, b_rec = np.zeros(g, dt), np.zeros(g, dt)
        elif spec.kind == "gru" and spec.reset_after:
            b_in, b_rec = (np.ascontiguousarray(w.bias[0], dt),
                           np.ascontiguousarray(w.bias[1], dt))
        else:
            b_in, b_rec = np.ascontiguousarray(w.bias, dt), np.zeros(g, dt)
        self.b_in, self.b_rec = b_in, b_rec
        self.U_zr = np.ascontiguousarray(self.U[:, :2 * self.units])
        self.U_h = np.ascontiguousarray(self.U[:, 2 * self.units:])
        self.act = ACTIVATIONS[spec.activation]
        ract = spec.recurrent_activation
        self.ract = 0 if ract is None else ACTIVATIONS[ract]
        self.n_states = len(spec.state_sizes)
        self.cst = np.array([0.5, 0.2, 6.0, 1.0, 0.0], dt)
        self.fast = dt == np.dtype(np.float32)      # float32: the vectorised tanh

    def run(self, x, init, mask, go_backwards, return_sequences, zero_out, prev_output):
        fn = _compiled()
        b, T = x.shape[:2]
        u, dt = self.units, self.spec.dtype
        states = np.empty((self.n_states, b, u), dt)
        for k, s in enumerate(init):
            states[k] = s
        has_mask = mask is not None
        last = np.zeros((b, u), dt) if prev_output is None or not has_mask else \
            np.array(prev_output, dt, copy=True)
        seq = np.empty((b, T, u), dt) if return_sequences else np.empty((0, 0, 0), dt)
        m = np.ascontiguousarray(mask, bool) if has_mask else np.ones((1, 1), bool)
        reset_after = self.spec.kind == "gru" and self.spec.reset_after
        # x W + b of every timestep as one product, time-major (T, b, G)
        xt = np.ascontiguousarray(x.swapaxes(0, 1))
        xw = np.matmul(xt.reshape(T * b, -1), self.W).reshape(T, b, -1)
        xw += self.b_in
        rec = self.U_zr if self.kind == 2 and not reset_after else self.U
        fn["seq"][self.kind](reset_after, xw, rec, self.U_h, self.b_rec, states, m,
                  go_backwards, seq, last, zero_out, self.act, self.ract, has_mask,
                  return_sequences, self.cst, self.fast, fn["blas"] and b >= BLAS_FROM)
        if not has_mask:
            last = states[0].copy() if T else np.zeros((b, u), dt)
        return last, (seq if return_sequences else None), [states[k].copy()
                                                            for k in range(self.n_states)]

class NumbaRecurrent:
    """The kernel of one recurrent layer with the compiled form: whole sequences of up to
    ``FUSED_UP_TO`` samples run compiled; larger batches run the NumPy kernel, whose BLAS
    products and vectorised NumPy calls are faster there (measured: tools/benchmarks). Same
    interface as NumpyRecurrent."""

    name = "numba"

    def __init__(self, specs: Sequence[CellSpec], weights: Sequence[CellWeights]):
        from .numpy_rnn import NumpyRecurrent
        self.cells = [_Cell(s, w) for s, w in zip(specs, weights)]
        self.dtype = specs[0].dtype
        self.numpy = NumpyRecurrent(specs, weights)
        self.warm_up()

    def warm_up(self) -> None:
        """Compile (or load from the disk cache) this layer's kernels now, at load, rather
        than in the first predict."""
        for c in self.cells:
            x = np.zeros((1, 1, c.W.shape[0]), self.dtype)
            init = [np.zeros((1, c.units), self.dtype)] * c.n_states
            c.run(x, init, np.ones((1, 1), bool), False, True, False, None)
            c.run(x, init, None, True, False, False, None)

    def run(self, x, initial_states, mask, go_backwards, return_sequences,
            zero_output_for_mask, prev_output=None):
        if x.shape[0] > FUSED_UP_TO or x.shape[0] == 0 or x.shape[1] == 0:
            return self.numpy.run(x, initial_states, mask, go_backwards, return_sequences,
                                  zero_output_for_mask, prev_output)
        x = np.asarray(x, self.dtype)
        k, finals = 0, []
        out = x
        for n, cell in enumerate(self.cells):
            init = initial_states[k:k + cell.n_states]
            k += cell.n_states
            top = n == len(self.cells) - 1
            last, seq, states = cell.run(out, init, mask, go_backwards,
                                         return_sequences or not top,
                                         zero_output_for_mask, prev_output if top else None)
            finals += states
            if not top:
                out = seq[:, ::-1] if go_backwards else seq     # back in time order
        return last, (seq if return_sequences else None), finals


def cells_of(specs: Sequence[CellSpec], weights: Sequence[CellWeights]
             ) -> Optional[NumbaRecurrent]:
    """The compiled kernel, or None where it does not apply (numba missing, activations)."""
    if not available() or not supports(specs):
        return None
    return NumbaRecurrent(specs, weights)

