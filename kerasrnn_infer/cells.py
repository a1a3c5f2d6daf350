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

    ConvLSTM   the LSTM with products replaced by convolutions (``layers/rnn/conv_lstm.py``):
               z = conv(x, W; strides, padding, dilation) + b + conv(h, U; stride 1, "same")

Masks (``backend/tensorflow/rnn.py``): a masked step keeps every state; its output is the
previous output (zeros before the first step), or zeros with ``zero_output_for_mask``. A
ConvLSTM mask may be per pixel (batch, time, *spatial): each pixel keeps its own states.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

Activation = Callable[..., np.ndarray]


@dataclass(frozen=True)
class ConvSpec:
    """The input convolution of a ConvLSTM cell (channels-last, ``rank`` spatial axes); its
    recurrent convolution always has stride 1, "same" padding and no dilation."""

    kernel_size: Tuple[int, ...]
    strides: Tuple[int, ...]
    padding: str                                # "valid" or "same"
    dilation: Tuple[int, ...]

    @property
    def rank(self) -> int:
        return len(self.kernel_size)

    def out_shape(self, spatial: Sequence[int]) -> Tuple[int, ...]:
        """The spatial shape of the states for input frames of ``spatial`` shape."""
        out = []
        for n, k, s, d in zip(spatial, self.kernel_size, self.strides, self.dilation):
            eff = (k - 1) * d + 1
            out.append(-(-n // s) if self.padding == "same" else (n - eff) // s + 1)
        return tuple(out)


@dataclass(frozen=True)
class CellSpec:
    """What defines a cell's maths, apart from its weights."""

    kind: str                                   # "simple_rnn", "lstm", "gru" or "conv_lstm"
    units: int                                  # ConvLSTM: filters
    activation: Activation
    recurrent_activation: Optional[Activation]  # None for SimpleRNN
    use_bias: bool = True
    reset_after: bool = False                   # GRU only
    dtype: np.dtype = np.dtype(np.float32)
    conv: Optional[ConvSpec] = None             # ConvLSTM only

    @property
    def gates(self) -> int:
        return {"simple_rnn": 1, "lstm": 4, "gru": 3, "conv_lstm": 4}[self.kind]

    @property
    def state_sizes(self) -> List[int]:
        """Features of each state (ConvLSTM: channels of each (*spatial, filters) state)."""
        return [self.units, self.units] if self.kind in ("lstm", "conv_lstm") else [self.units]

    def state_shapes(self, frame: Sequence[int]) -> List[Tuple[int, ...]]:
        """Per-sample shape of each state for input frames of shape ``frame``."""
        if self.conv is None:
            return [(n,) for n in self.state_sizes]
        return [self.conv.out_shape(frame[:-1]) + (n,) for n in self.state_sizes]

    def bias_shape(self) -> Tuple[int, ...]:
        g = self.gates * self.units
        return (2, g) if self.kind == "gru" and self.reset_after else (g,)

    def weight_shapes(self) -> List[Tuple[Optional[int], ...]]:
        """kernel (features, g), recurrent_kernel (units, g) and bias, as Keras stores them."""
        g = self.gates * self.units
        if self.conv is not None:     # (*k, channels in, 4 filters), (*k, filters, 4 filters)
            k = self.conv.kernel_size
            return [(*k, None, g), (*k, self.units, g)] + ([(g,)] if self.use_bias else [])
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
        """Input features (ConvLSTM: input channels)."""
        return int(self.kernel.shape[-2] if self.kernel.ndim > 2 else self.kernel.shape[0])


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
    return _lstm_gates(spec, z, c)


def _lstm_gates(spec: CellSpec, z: np.ndarray, c: np.ndarray):
    zi, zf, zc, zo = _gates(z, 4)
    ract = _ract(spec)
    i, f, o = ract(zi), ract(zf), ract(zo)
    c = f * c + i * spec.activation(zc)
    h = o * spec.activation(c)
    return h, [h, c]


def convolve(x: np.ndarray, kernel: np.ndarray, strides: Sequence[int], padding: str,
             dilation: Sequence[int]) -> np.ndarray:
    """Cross-correlation of ``x`` (batch, *spatial, cin) with ``kernel`` (*k, cin, out), as
    ``tf.nn.convolution`` computes it ("same": the extra padding after): a sum over kernel
    offsets of shifted, strided slices times that offset's (cin, out) matrix."""
    ks = kernel.shape[:-2]
    pads = [(0, 0)]
    for n, k, s, d in zip(x.shape[1:-1], ks, strides, dilation):
        eff = (k - 1) * d + 1
        total = max((-(-n // s) - 1) * s + eff - n, 0) if padding == "same" else 0
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, pads + [(0, 0)])
    out = [(n - (k - 1) * d - 1) // s + 1
           for n, k, s, d in zip(xp.shape[1:-1], ks, strides, dilation)]
    y = np.zeros((x.shape[0], *out, kernel.shape[-1]), np.result_type(x, kernel))
    for offset in np.ndindex(*ks):
        window = tuple(slice(o * d, o * d + (m - 1) * s + 1, s)
                       for o, d, m, s in zip(offset, dilation, out, strides))
        y += xp[(slice(None),) + window] @ kernel[offset]
    return y


def conv_lstm_step(spec: CellSpec, w: CellWeights, x: np.ndarray, states):
    """``x`` (batch, *spatial, channels); states (batch, *out spatial, filters)."""
    cs = spec.conv
    if cs is None:
        raise ValueError("a conv_lstm cell needs its ConvSpec")
    h, c = states
    ones = (1,) * cs.rank
    z = convolve(x, w.kernel, cs.strides, cs.padding, cs.dilation) + \
        convolve(h, w.recurrent_kernel, ones, "same", ones)
    if w.bias is not None:
        z = z + w.bias
    return _lstm_gates(spec, z, c)


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


STEPS = {"simple_rnn": simple_rnn_step, "lstm": lstm_step, "gru": gru_step,
         "conv_lstm": conv_lstm_step}


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
    """Run the cell(s) over ``x`` (batch, time, *features): (last output, output sequence in
    processing order or None, final states), as ``kernels.numpy_rnn.run`` returns them.
    ``mask`` is (batch, time), or (batch, time, *spatial) per pixel for a ConvLSTM."""
    dtype = specs[0].dtype
    x = np.asarray(x, dtype)
    batch, steps = x.shape[:2]
    shapes, frame = [], x.shape[2:]
    for spec in specs:
        shapes += spec.state_shapes(frame)
        frame = shapes[-1]
    states = [np.zeros((batch, *n), dtype) for n in shapes] if initial_states is None else \
        [np.asarray(s, dtype) for s in initial_states]
    out_shape = shapes[-1]
    last = np.zeros((batch, *out_shape), dtype) if prev_output is None else \
        np.asarray(prev_output, dtype)
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    seq = []
    for t in order:
        out, new = step(specs, weights, x[:, t], states)
        out = np.asarray(out, dtype)
        if mask is None:
            states, last = [np.asarray(s, dtype) for s in new], out
        else:
            keep = np.asarray(mask, bool)[:, t]
            keep = keep.reshape(keep.shape + (1,) * (last.ndim - keep.ndim))
            states = [np.where(keep, n, s).astype(dtype) for n, s in zip(new, states)]
            base = np.zeros_like(last) if zero_output_for_mask else last
            last = np.where(keep, out, base).astype(dtype)
        seq.append(last)
    sequence = np.stack(seq, axis=1) if return_sequences and seq else \
        (np.zeros((batch, 0, *out_shape), dtype) if return_sequences else None)
    return last, sequence, states
