"""The compiled Dense layer (the ``jit`` extra): ``activation(x W + b)`` in one compiled call
(kernels/_numba_impl.py ``dense``), with the recurrent kernel's packed product
(kernels/_simd.py) and its activations, or a softmax.

Why a layer this simple has a compiled form: at batch 1 a Dense head is a handful of NumPy
calls (a product, the bias, three or four for the activation), each one a trip through
NumPy's dispatch, and when their code and data are out of cache (a service between
requests, another library's call just before) each costs many times its warm time; one
compiled call, whose product is the code the recurrent layer before it has just run,
costs one trip. Results differ from the NumPy layer by float rounding only (products
summed in another order with fused multiply-adds; the float32 ``tanh`` of the recurrent
kernel, within 2.4e-7 of NumPy's): tests hold them within 1e-6 of it on inputs of unit
scale (on larger values, a few float32 ulps of the output). Activations and dtypes outside
the compiled set, and layers of more than MAX_INPUTS inputs, keep the NumPy layer.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from .. import activations as A
from . import numba_rnn


#: Rows up to which the compiled call is used whatever the layer's width (measured, float32,
#: one thread: 3 units of 32 inputs, 64 rows 5.6 against 6.8 us, 128 rows 9.6 against 7.9)
SMALL_ROWS = 64
#: Beyond SMALL_ROWS, the share of the packed panels' columns a layer may leave unused (a
#: panel is 32 float32 columns with AVX-512: 3 units compute 32; 5000 rows of 32 inputs,
#: 24 units 255 against 280 us, 16 units 293 against 193)
MAX_PADDING = 0.25


#: The most inputs (K) a compiled Dense layer takes: the packed product sums each output in
#: one pass over K, where NumPy's BLAS keeps several partial sums, so the two drift apart as
#: K grows (measured, float32, 17 rows of tanh- or relu-range inputs: at most 9.5e-7 apart
#: up to 256 inputs, 1.3-1.7e-6 at 512, 2.5e-6 at 1024); wider layers keep NumPy
MAX_INPUTS = 256


class NumbaDense:
    """``run(x)``: ``activation(x kernel + bias)`` for ``x`` (m, K), C-contiguous, aligned,
    of the layer's dtype (as ``Dense.call`` passes it), m >= 1; ``max_rows``: the most rows
    for which it is faster than NumPy (see SMALL_ROWS)."""

    name = "numba"

    def __init__(self, kernel: np.ndarray, bias: Optional[np.ndarray], code: int, dtype):
        from . import _simd
        dt = np.dtype(dtype)
        self.dtype = dt
        self.units = int(kernel.shape[1])
        self.P = _simd.pack(np.asarray(kernel, dt),
                            lambda shape: numba_rnn._aligned(np.empty(shape, dt), dt))
        padded = self.P.shape[0] * self.P.shape[2]
        # a softmax's exp is one libm call a value, slower than NumPy's vectorised one over
        # many rows (256 rows of 1000: 2.5 against 2.3 ms; 32 rows of 5: 5.0 against 16.9 us)
        wide_ok = padded - self.units <= MAX_PADDING * padded and code != _softmax()
        self.max_rows = np.iinfo(np.int64).max if wide_ok else SMALL_ROWS
        self.bias = numba_rnn._aligned(np.zeros(self.units) if bias is None else bias, dt)
        self.code = int(code)
        self.cst = numba_rnn._aligned([0.5, 0.2, 6.0, 1.0, 0.0], dt)
        self.fast = dt == np.dtype(np.float32)
        dense = numba_rnn._compiled()["dense"]
        x = np.zeros((1, kernel.shape[0]), dt)
        args = (x, self.P, self.bias, self.units, self.code, self.cst, self.fast)
        dense(*args)                            # compiled (or read from the cache) at load
        # then called without numba's per-call type dispatch (see numba_rnn._Cell.bind)
        self.call = numba_rnn._entry_point(dense, args)

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.call(x, self.P, self.bias, self.units, self.code, self.cst, self.fast)

    def direct(self, layer, general):
        """The direct step (executor.direct_plan) of Dense ``layer`` (its ``compiled``: this
        one): on rows (m, K) it takes as they are (its dtype, C-contiguous, aligned, 1 to
        ``max_rows`` of them) the compiled call in one frame; anything else, or once the
        layer has new weights, ``general(x, mask)``."""
        call, dt, K, top = self.call, self.dtype, self.P.shape[1], self.max_rows
        rest = (self.P, self.bias, self.units, self.code, self.cst, self.fast)

        def step(x, mask):
            if x.dtype != dt or x.ndim != 2 or x.shape[1] != K or not 0 < x.shape[0] <= top \
                    or layer.compiled is not self:
                return general(x, mask)
            flags = x.flags
            if not (flags.c_contiguous and flags.aligned):
                return general(x, mask)
            return call(x, *rest), mask
        return step


def _softmax() -> int:
    from ._numba_impl import SOFTMAX                # numba is imported by then
    return SOFTMAX


def dense_of(kernel, bias, activation, dtype) -> Optional[NumbaDense]:
    """The compiled form of a Dense layer, or None where it has none (activation, dtype,
    more than MAX_INPUTS inputs)."""
    code: Optional[int] = numba_rnn.ACTIVATIONS.get(activation)
    if activation is A.softmax:
        code = _softmax()
    if (code is None or np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64))
            or kernel.shape[0] > MAX_INPUTS):
        return None
    return NumbaDense(kernel, bias, code, dtype)
