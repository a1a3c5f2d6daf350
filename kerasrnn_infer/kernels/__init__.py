"""Kernels: the fast forms of the maths that layers describe.

A layer holds a readable description of its maths (for recurrent layers, ``cells.CellSpec``
and ``cells.CellWeights``) and asks this package for a kernel to run it. Each kernel is one
module, tested against the readable reference (``kerasrnn_infer.cells``) on random weights in
every layout it uses:

- ``numpy_rnn``: SimpleRNN, LSTM and GRU cells (and stacks of them) in NumPy, one matrix
  product per step (``layout_policy`` chooses buffer layouts by batch size); ConvLSTM cells
  (the input convolution of all steps at once, one product over windows per step);
- ``conv``: windows and padding for convolution and pooling layers.
"""

from __future__ import annotations

from typing import Sequence

from ..cells import CellSpec, CellWeights
from .numpy_rnn import (DEFAULT_POLICY, ConvLSTMRecurrent, LayoutPolicy, NumpyRecurrent,
                        layout_policy)

__all__ = ["DEFAULT_POLICY", "LayoutPolicy", "layout_policy", "recurrent_kernel"]


def recurrent_kernel(specs: Sequence[CellSpec], weights: Sequence[CellWeights]):
    """The kernel that runs these cells: an object with ``run(x, initial_states, mask,
    go_backwards, return_sequences, zero_output_for_mask, prev_output)`` returning
    ``(last output, sequence or None, final states)`` as ``cells.run`` does."""
    if specs[0].kind == "conv_lstm":
        if len(specs) != 1:
            raise ValueError("ConvLSTM cells are not stacked")
        return ConvLSTMRecurrent(specs[0], weights[0])
    return NumpyRecurrent(specs, weights)
