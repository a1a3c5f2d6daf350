"""The recurrent cells as Keras writes them, in plain NumPy: the readable reference.

Every kernel (``kernels/``) computes exactly these steps, faster; the tests hold each kernel to
this module on random weights, in every layout it uses. Nothing here is tuned: one function a
cell, one loop for time (direction, masks, sequences and states), the split Keras uses between
``*Cell.call`` and ``backend.rnn``.

Formulas (Keras ``layers/rnn/{simple_rnn,lstm,gru}.py``; gate order i, f, c, o and z, r, h):

    SimpleRNN  h = act(x W + b + h U)
    LSTM       z = x W + b + h U;  i, f, o = ract(z_i, z_f, z_o);  c = f c + i act(z_c);
               h = o act(c)
    GRU        reset_after:  z, r = ract(x W_zr + b_zr + h U_zr + b'_zr);
                             hh = act(x W_h + b_h + r (h U_h + b'_h))
               otherwise:    z, r = ract(x W_zr + b_zr + h U_zr);
                             hh = act(x W_h + b_h + (r h) U_h)
               h = z h + (1 - z) hh

Masks (``backend/tensorflow/rnn.py``): a masked step keeps every state; its output is the
previous output (zeros before the first step), or zeros with ``zero_output_for_mask``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

Activation = Callable[..., np.ndarray]


@dataclass(frozen=True)
class CellSpec:
    """What defines a cell's maths, apart from its weights."""

    kind: str                                   # "simple_rnn", "lstm" or "gru"
    units: int
    activation: Activation
    recurrent_activation: Optional[Activation]  # None for SimpleRNN
    use_bias: bool = True
    reset_after: bool = False                   # GRU only
    dtype: np.dtype = np.dtype(np.float32)

    @property
    def gates(self) -> int:
        return {"simple_rnn": 1, "lstm": 4, "gru": 3}[self.kind]

    @property
    def state_sizes(self) -> List[int]:
        return [self.units, self.units] if self.kind == "lstm" else [self.units]

    def bias_shape(self) -> Tuple[int, ...]:
        g = self.gates * self.units
        return (2, g) if self.kind == "gru" and self.reset_after else (g,)

    def weight_shapes(self) -> List[Tuple[Optional[int], ...]]:
        """kernel (features, g), recurrent_kernel (units, g) and bias, as Keras stores them."""
        g = self.gates * self.units
        shapes: List[Tuple[Optional[int], ...]] = [(None, g), (self.units, g)]
        if self.use_bias:
            shapes.append(self.bias_shape())
        return shapes


@dataclass
class CellWeights:
    kernel: np.ndarray
    recurrent_kernel: np.ndarray
    bias: Optional[np.ndarray] = None

    @classmethod
    def of(cls, spec: CellSpec, arrays: Sequence[np.ndarray]) -> "CellWeights":
        arrays = [np.asarray(a) for a in arrays]
        return cls(arrays[0], arrays[1], arrays[2] if spec.use_bias else None)

    @property
    def features(self) -> int:
        return int(self.kernel.shape[0])


def _ract(spec: CellSpec) -> Activation:
    if spec.recurrent_activation is None:
        raise ValueError(f"a {spec.kind} cell needs a recurrent_activation")
    return spec.recurrent_activation


def _gates(m: np.ndarray, n: int) -> List[np.ndarray]:
    u = m.shape[-1] // n
    return [m[..., k * u:(k + 1) * u] for k in range(n)]


def simple_rnn_step(spec: CellSpec, w: CellWeights, x: np.ndarray, states):
    (h,) = states
    z = x @ w.kernel + h @ w.recurrent_kernel
    if w.bias is not None:
        z = z + w.bias
    h = spec.activation(z)
    return h, [h]


def lstm_step(spec: CellSpec, w: CellWeights, x: np.ndarray, states):
    h, c = states
    z = x @ w.kernel + h @ w.recurrent_kernel
    if w.bias is not None:
        z = z + w.bias
    zi, zf, zc, zo = _gates(z, 4)
    ract = _ract(spec)
    i, f, o = ract(zi), ract(zf), ract(zo)
    c = f * c + i * spec.activation(zc)
    h = o * spec.activation(c)
    return h, [h, c]


def gru_step(spec: CellSpec, w: CellWeights, x: np.ndarray, states):
    (h,) = states
    ract = _ract(spec)
    if w.bias is None:
        b_in = b_rec = None
    elif spec.reset_after:
        b_in, b_rec = w.bias[0], w.bias[1]
    else:
        b_in, b_rec = w.bias, None
    xw = x @ w.kernel
    if b_in is not None:
        xw = xw + b_in
    xz, xr, xh = _gates(xw, 3)
    uz, ur, uh = _gates(w.recurrent_kernel, 3)
    if spec.reset_after:
        rec = h @ w.recurrent_kernel
        if b_rec is not None:
            rec = rec + b_rec
        rz, rr, rh = _gates(rec, 3)
        z = ract(xz + rz)
        r = ract(xr + rr)
        hh = spec.activation(xh + r * rh)
    else:
        z = ract(xz + h @ uz)
        r = ract(xr + h @ ur)
        hh = spec.activation(xh + (r * h) @ uh)
    h = z * h + (1 - z) * hh
    return h, [h]


STEPS = {"simple_rnn": simple_rnn_step, "lstm": lstm_step, "gru": gru_step}


def step(specs: Sequence[CellSpec], weights: Sequence[CellWeights], x: np.ndarray, states):
    """One timestep of a cell, or of stacked cells (``RNN([cells])``: each cell's output is
    the next one's input; the states are the cells' states in order)."""
    out, new, k = x, [], 0
    for spec, w in zip(specs, weights):
        n = len(spec.state_sizes)
        out, s = STEPS[spec.kind](spec, w, out, states[k:k + n])
        new += s
        k += n
    return out, new


def run(specs: Sequence[CellSpec], weights: Sequence[CellWeights], x: np.ndarray,
        initial_states: Optional[Sequence[np.ndarray]] = None, mask: Optional[np.ndarray] = None,
        go_backwards: bool = False, return_sequences: bool = False,
        zero_output_for_mask: bool = False, prev_output: Optional[np.ndarray] = None
        ) -> Tuple[np.ndarray, Optional[np.ndarray], List[np.ndarray]]:
    """Run the cell(s) over ``x`` (batch, time, features): (last output, output sequence in
    processing order or None, final states), as ``kernels.numpy_rnn.run`` returns them."""
    dtype = specs[0].dtype
    x = np.asarray(x, dtype)
    batch, steps = x.shape[:2]
    sizes = [s for spec in specs for s in spec.state_sizes]
    states = [np.zeros((batch, n), dtype) for n in sizes] if initial_states is None else \
        [np.asarray(s, dtype) for s in initial_states]
    out_size = specs[-1].units
    last = np.zeros((batch, out_size), dtype) if prev_output is None else \
        np.asarray(prev_output, dtype)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    seq = []
    for t in order:
        out, new = step(specs, weights, x[:, t], states)
        out = np.asarray(out, dtype)
        if mask is None:
            states, last = [np.asarray(s, dtype) for s in new], out
        else:
            keep = np.asarray(mask, bool)[:, t][:, None]
            states = [np.where(keep, n, s).astype(dtype) for n, s in zip(new, states)]
            base = np.zeros_like(last) if zero_output_for_mask else last
            last = np.where(keep, out, base).astype(dtype)
        seq.append(last)
    sequence = np.stack(seq, axis=1) if return_sequences and seq else \
        (np.zeros((batch, 0, out_size), dtype) if return_sequences else None)
    return last, sequence, states
