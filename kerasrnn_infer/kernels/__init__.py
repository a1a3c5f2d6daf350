"""Kernels: the fast forms of the maths that layers describe.

A layer holds a readable description of its maths (for recurrent layers, ``cells.CellSpec``
and ``cells.CellWeights``) and asks this package for a kernel to run it. Each kernel is one
module, tested against the readable reference (``kerasrnn_infer.cells``) on random weights in
every layout it uses:

- ``numpy_rnn``: SimpleRNN, LSTM and GRU cells (and stacks of them) in NumPy, one matrix
  product per step (``layout_policy`` chooses buffer layouts by batch size); ConvLSTM cells
  (the input convolution of all steps at once, one product over windows per step);
- ``numba_rnn``: SimpleRNN, LSTM, GRU and ConvLSTM1D/2D cells compiled by numba (the ``jit``
  extra), with their own packed-weight product (``_simd``); ``jit_setting`` decides whether
  it is used at all;
- ``numba_dense``: the Dense layer compiled (the ``jit`` extra), with the same product;
- ``conv``: windows and padding for convolution and pooling layers.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from ..cells import CellSpec, CellWeights
from ..errors import SettingError, UnsupportedError
from .numpy_rnn import (DEFAULT_POLICY, ConvLSTMRecurrent, LayoutPolicy, NumpyRecurrent,
                        layout_policy)

__all__ = ["DEFAULT_POLICY", "JIT_VARIABLE", "LayoutPolicy", "dense_kernel", "jit_setting",
           "layout_policy", "recurrent_kernel"]

JIT_VARIABLE = "KERASRNN_INFER_JIT"
_JIT_VALUES = {"auto": None, "1": True, "on": True, "true": True, "0": False, "off": False,
               "false": False}


def jit_setting(jit: Optional[bool] = None) -> Optional[bool]:
    """The compiled kernel's setting: ``jit`` if given (``load_model(..., jit=...)``), else
    ``KERASRNN_INFER_JIT``: ``auto`` (the default: compiled when numba is installed), ``1``
    (compiled, an error without numba) or ``0`` (NumPy only). Returns True, False or None
    (auto)."""
    if jit is not None:
        if not isinstance(jit, bool):
            raise UnsupportedError(f"jit must be True, False or None, not {jit!r}")
        return jit
    raw = os.environ.get(JIT_VARIABLE)
    if raw is None:
        return None
    key = raw.strip().lower()
    if key not in _JIT_VALUES:
        raise SettingError(f"{JIT_VARIABLE}={raw!r}: expected one of auto, 1, 0 (also on/off, "
                           f"true/false)")
    return _JIT_VALUES[key]


def recurrent_kernel(specs: Sequence[CellSpec], weights: Sequence[CellWeights],
                     jit: Optional[bool] = None, where: str = "recurrent layer"):
    """The kernel that runs these cells: an object with ``run(x, initial_states, mask,
    go_backwards, return_sequences, zero_output_for_mask, prev_output)`` returning
    ``(last output, sequence or None, final states)`` as ``cells.run`` does
    (``initial_states`` None: zeros), and ``name``
    (``"numba"`` or ``"numpy"``). ``jit`` as for ``jit_setting``; cells the compiled kernel
    has no form for (other activations, dtypes, ConvLSTM3D) get the NumPy kernel in any
    case."""
    choice = jit_setting(jit)
    if specs[0].kind == "conv_lstm":
        if len(specs) != 1:
            raise UnsupportedError(f"{where}: ConvLSTM cells are not stacked")
        if choice is not False:
            from . import numba_rnn
            _need_numba(numba_rnn, choice, where)
            kernel = numba_rnn.conv_lstm_of(specs[0], weights[0])
            if kernel is not None:
                return kernel
        return ConvLSTMRecurrent(specs[0], weights[0])
    if choice is not False:
        from . import numba_rnn
        _need_numba(numba_rnn, choice, where)
        if numba_rnn.available() and numba_rnn.supports(specs):
            return numba_rnn.NumbaRecurrent(specs, weights)
    return NumpyRecurrent(specs, weights)


def dense_kernel(kernel, bias, activation, dtype, jit: Optional[bool] = None,
                 where: str = "Dense layer"):
    """The compiled form of a Dense layer (``numba_dense.NumbaDense``: ``run(x)`` for 2-D
    ``x``), or None: the layer's own NumPy maths (``jit`` off or auto without numba, an
    activation or dtype it has no form for). ``jit`` as for ``jit_setting``."""
    choice = jit_setting(jit)
    if choice is False:
        return None
    from . import numba_rnn
    _need_numba(numba_rnn, choice, where)
    if not numba_rnn.available():
        return None
    from .numba_dense import dense_of
    return dense_of(kernel, bias, activation, dtype)


def _need_numba(numba_rnn, choice, where) -> None:
    if choice and not numba_rnn.available():
        raise UnsupportedError(
            f"{where}: the compiled kernel was asked for (jit=True or {JIT_VARIABLE}=1) but "
            f"numba is not installed; pip install 'kerasrnn-infer[jit]'")
