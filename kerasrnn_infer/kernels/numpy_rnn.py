"""The NumPy recurrent kernel: fast cells and the one time loop that runs them.

Built from the cells' specs and weights (``kerasrnn_infer.cells``, whose readable steps are
the reference this kernel is tested against); cells know the maths of one timestep, ``run``
knows time: direction, masks, sequences and states (the split Keras uses between
``*Cell.call`` and ``backend.rnn``).

Speed: every cell keeps one buffer per call, ``X = [h | x | 1]`` (the ones only when there is
a bias), and its weights stacked once at load into ``[U; W; b]``, so the input projection, the
recurrent product and the bias of a timestep are one matrix product. Each step copies ``x_t``
into ``X`` and the new ``h`` lands in ``X`` again: nothing is allocated in the loop and the
NumPy calls per step are few (9 for the usual LSTM). Gates are reordered at load so that gates
sharing an activation are contiguous, and sigmoid gates are pre-halved so that
``sigmoid(x) = 0.5 tanh(x / 2) + 0.5`` shares one ``tanh`` call with the tanh gates.

Two layouts, chosen by batch size (both measured, with OpenBLAS): small batches keep one row per
sample, ``X`` is (batch, K) and a step is ``X @ Wc``, a vector-matrix product. From
``LayoutPolicy.columns_from`` samples on (2 for LSTM and GRU, 16 for SimpleRNN), buffers are
feature-major,
``X`` is (K, batch) and a step is ``Wc.T @ X`` with ``Wc.T`` stored contiguous (made on first
use), so every gate block is a contiguous run of rows and whole-gate calls stream through
memory. The product costs about the same either way (tools/bench.py times both); the layouts
differ in the elementwise calls, measured faster feature-major from those batch sizes.

The formulas are in ``kerasrnn_infer/cells.py``, the reference this kernel is tested against.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from dataclasses import dataclass
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np

from .. import activations as A
from .._locks import ForkSafeLock
from ..cells import CellSpec, CellWeights, ConvSpec
from . import conv as conv_k

# Activations that act elementwise can be applied to several gates in one call.
_AXIS_WISE = {A.softmax, A.log_softmax, A.sparsemax}
_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float16, np.float32, np.float64)}


@dataclass(frozen=True)
class LayoutPolicy:
    """Which buffer layout and product form the kernel uses, by batch size."""

    #: batch sizes from which buffers are feature-major, by cell kind (measured: tools/bench.py)
    columns_from: Tuple[Tuple[str, int], ...] = (("simple_rnn", 16), ("lstm", 2), ("gru", 2))
    #: batch sizes below which GRU (reset_after) folds x W_h into its one product (measured)
    fold_below: int = 2

    def columns(self, kind: str, batch: int) -> bool:
        return batch >= dict(self.columns_from)[kind]

    @classmethod
    def forced(cls, columns: bool, fold: bool = False) -> "LayoutPolicy":
        """Every batch in one layout (rows or feature-major), optionally with GRU's folded
        product at every batch: for tests that check each form."""
        start = 1 if columns else 1 << 40
        return cls(tuple((k, start) for k in ("simple_rnn", "lstm", "gru")),
                   1 << 40 if fold else 2)


DEFAULT_POLICY = LayoutPolicy()
_POLICY: contextvars.ContextVar = contextvars.ContextVar("kerasrnn_infer_layout",
                                                         default=DEFAULT_POLICY)


@contextlib.contextmanager
def layout_policy(policy: LayoutPolicy) -> Iterator[LayoutPolicy]:
    """``with layout_policy(p):`` runs recurrent layers in this thread (and context) with
    layout policy ``p``."""
    token = _POLICY.set(policy)
    try:
        yield policy
    finally:
        _POLICY.reset(token)


def _tanh_then_sigmoid(z: np.ndarray, sig: np.ndarray, half: np.ndarray) -> None:
    """``tanh`` over all of ``z`` in place, then ``sig`` (a leading part of ``z`` whose
    weights were pre-halved) turned into ``sigmoid``: ``0.5 tanh(x / 2) + 0.5``."""
    np.tanh(z, z)
    np.multiply(sig, half, sig)
    np.add(sig, half, sig)


def _activation(fn, units: int, cols: bool):
    """``act(src, dst)``: ``fn`` of ``src`` (gate blocks of ``units`` features: columns, or
    rows when ``cols``) written to ``dst``, which may be ``src``. Common activations go straight
    to their NumPy ufunc, without a Python call around it."""
    if fn is A.tanh:
        return np.tanh
    if fn is A.linear:
        return lambda src, dst: None if src is dst else np.copyto(dst, src)
    if fn in _AXIS_WISE:
        def axis_wise(src, dst):
            if src is not dst:
                np.copyto(dst, src)
            zs = dst.T if cols else dst          # (batch, features): the axis Keras uses
            for k in range(0, zs.shape[1], units):
                blk = zs[:, k:k + units]
                fn(blk, out=blk)
        return axis_wise
    return lambda src, dst: fn(src, out=dst)


def _assemble(dtype, rows: Sequence[Sequence[Optional[np.ndarray]]], units: int,
              halve: int = 0) -> np.ndarray:
    """One contiguous matrix from row bands, each a list of gate blocks ``units`` columns wide
    (None: zeros), every element written once. The first ``halve`` columns are halved (exact
    in binary floating point), so that ``sigmoid(x) = 0.5 * tanh(x / 2) + 0.5`` shares one
    ``tanh`` call with the tanh gates."""
    bands = [[None if b is None else np.asarray(b).reshape(-1, units) for b in band]
             for band in rows]
    heights = [next(b.shape[0] for b in band if b is not None) for band in bands]
    out = np.empty((sum(heights), units * len(bands[0])), dtype)
    half = out.dtype.type(0.5)
    r0 = 0
    for band, height in zip(bands, heights):
        for k, block in enumerate(band):
            dst = out[r0:r0 + height, k * units:(k + 1) * units]
            if block is None:
                dst.fill(0)
            elif k * units < halve:
                np.multiply(block, half, out=dst, casting="unsafe")
            else:
                np.copyto(dst, block, casting="unsafe")
        r0 += height
    return out


def _gates(m: Optional[np.ndarray], units: int) -> List[Optional[np.ndarray]]:
    """The gate blocks of ``m`` (last axis), or Nones."""
    if m is None:
        return []
    return [m[..., k * units:(k + 1) * units] for k in range(m.shape[-1] // units)]


class Layout:
    """Buffers and their feature blocks for ``batch`` samples: (batch, n) rows, or (n, batch)
    feature-major when ``cols``."""

    __slots__ = ("batch", "cols")

    def __init__(self, batch: int, cols: bool):
        self.batch, self.cols = batch, cols

    def buf(self, n: int, dtype, zero: bool = False) -> np.ndarray:
        shape = (n, self.batch) if self.cols else (self.batch, n)
        return np.zeros(shape, dtype) if zero else np.empty(shape, dtype)

    def part(self, buf: np.ndarray, lo: int, hi: int) -> np.ndarray:
        return buf[lo:hi] if self.cols else buf[:, lo:hi]

    def samples(self, view: np.ndarray) -> np.ndarray:
        """``view`` as (batch, features)."""
        return view.T if self.cols else view

    def product(self, cell, name: str, x: np.ndarray):
        """Operands of ``x @ W`` in this layout: ``(x, W)`` or ``(W.T, x)``."""
        return (cell.transposed(name), x) if self.cols else (x, getattr(cell, name))


class Frame:
    """Per-call buffers of one cell: ``X = [h | x | 1 | ...]`` and the cell's scratch.

    ``x`` is the input slot, ``out`` the output, ``states`` views of the state arrays in fixed
    places (a step updates them in place); ``out_bs`` and ``states_bs`` are the same views as
    (batch, features)."""

    __slots__ = ("L", "X", "x", "out", "states", "ws", "batch", "cols", "weights", "policy",
                 "shape")

    def __init__(self, L: Layout, X, x, out, states, ws, policy: LayoutPolicy = DEFAULT_POLICY):
        self.L, self.X, self.x, self.out, self.states, self.ws = L, X, x, out, states, ws
        self.batch, self.cols = L.batch, L.cols
        self.weights = None           # the weights generation the frame was made for
        self.policy = policy          # the layout policy it was made under
        self.shape = None             # the per-sample input shape it was made for

    @property
    def out_bs(self):
        return self.L.samples(self.out)

    @property
    def states_bs(self):
        return [self.L.samples(s) for s in self.states]


_CACHED_FRAME_VALUES = 1 << 14     # frames of about this many values (states, inputs) are kept


def _frame_for(cell, batch: int, shape: Optional[Tuple[int, ...]] = None) -> Frame:
    """The cell's frame for ``batch`` samples of per-step input ``shape``: small ones are kept
    per thread and reused (making one costs about as much as a step), since every buffer is
    overwritten before it is read."""
    shape = (cell.features,) if shape is None else shape
    local = cell._frames
    fr = getattr(local, "frame", None)
    weights = cell.weights_generation
    policy = _POLICY.get()
    if fr is None or fr.batch != batch or fr.weights != weights or fr.policy is not policy \
            or fr.shape != shape:
        fr = cell.frame(batch, policy=policy, shape=shape)
        fr.weights, fr.shape = weights, shape
        pixels = int(np.prod(shape[:-1], dtype=np.int64))
        if batch * pixels * (sum(cell.state_sizes) + cell.features) <= _CACHED_FRAME_VALUES:
            local.frame = fr
    return fr


class Cell:
    """One timestep of a recurrent layer. Subclasses stack weights in ``set``."""

    kind = ""
    gates = 1
    extra_columns = 0          # columns of X after [h | x | 1] (GRU without reset_after)

    def __init__(self, spec: CellSpec):
        self.spec = spec
        self.units = spec.units
        self.act = spec.activation
        self.ract = spec.recurrent_activation
        self.use_bias = spec.use_bias
        self.dtype = np.dtype(spec.dtype)
        self.features = 0
        self.weights_generation = 0   # counts set() calls: frames made before are stale
        self._frames = threading.local()
        self._transposed: dict = {}
        self._lock = ForkSafeLock()

    @property
    def state_sizes(self) -> List[int]:
        return [self.units]

    @property
    def output_size(self) -> int:
        return self.units

    def _arrays(self, arrays):
        """Kernel, recurrent kernel and bias (or None) as they are (cast when assembled).
        New weights: every derived array and every cached frame (which refer to the old
        weights, in any thread) is dropped."""
        self._transposed = {}
        self._frames = threading.local()
        self.weights_generation += 1
        kernel = np.asarray(arrays[0])
        self.features = kernel.shape[0]
        bias = np.asarray(arrays[2]) if self.use_bias else None
        return kernel, np.asarray(arrays[1]), bias

    def _stack(self, recurrent, kernel, bias, order=None, halve=0) -> np.ndarray:
        """``[U; W; b]``, the rows that multiply ``[h | x | 1]``, gate blocks in ``order``."""
        u = self.units
        bands = [_gates(m, u) for m in (recurrent, kernel, bias) if m is not None]
        if order is not None:
            bands = [[band[k] for k in order] for band in bands]
        return _assemble(self.dtype, bands, u, halve)

    def transposed(self, name: str) -> np.ndarray:
        """Contiguous transpose of weight matrix ``name``, made on first use (feature-major
        steps; a process that never runs a large batch never pays its memory)."""
        t = self._transposed.get(name)
        if t is None:
            with self._lock:
                t = self._transposed.get(name)
                if t is None:
                    t = np.ascontiguousarray(getattr(self, name).T)
                    self._transposed[name] = t
        return t

    def columns(self, batch: int, policy: LayoutPolicy) -> bool:
        return policy.columns(self.kind, batch)

    def frame(self, batch: int, cols: Optional[bool] = None,
              policy: LayoutPolicy = DEFAULT_POLICY, shape=None) -> Frame:
        u, f = self.units, self.features
        one = int(self.use_bias)
        L = Layout(batch, self.columns(batch, policy) if cols is None else cols)
        X = L.buf(u + f + one + self.extra_columns, self.dtype, zero=True)
        if one:
            L.part(X, u + f, u + f + 1)[...] = 1
        h = L.part(X, 0, u)
        return self._frame(Frame(L, X, L.part(X, u, u + f), h, [h], {}, policy))

    def _frame(self, fr: Frame) -> Frame:
        return fr

    def set(self, arrays: List[np.ndarray]) -> None:
        raise NotImplementedError

    def step(self, fr: Frame) -> None:
        raise NotImplementedError


class SimpleRNNCell(Cell):
    kind = "simple_rnn"

    def set(self, arrays: List[np.ndarray]) -> None:
        kernel, recurrent, bias = self._arrays(arrays)
        self.Wc = self._stack(recurrent, kernel, bias)

    def _frame(self, fr):
        fr.ws.update(a=fr.L.buf(self.units, self.dtype), mm=fr.L.product(self, "Wc", fr.X),
                     act=_activation(self.act, self.units, fr.cols))
        return fr

    def step(self, fr):
        ws = fr.ws
        a = ws["a"]
        np.matmul(*ws["mm"], a)
        ws["act"](a, fr.out)


class LSTMCell(Cell):
    kind = "lstm"
    gates = 4
    _ORDER = (0, 1, 3, 2)   # Keras i, f, c, o  ->  i, f, o | c

    @property
    def state_sizes(self) -> List[int]:
        return [self.units, self.units]

    def set(self, arrays: List[np.ndarray]) -> None:
        kernel, recurrent, bias = self._arrays(arrays)
        # the usual sigmoid gates + tanh: one tanh over all four gates per step
        self.fused = self.ract is A.sigmoid and self.act is A.tanh
        self.Wc = self._stack(recurrent, kernel, bias, self._ORDER,
                              3 * self.units if self.fused else 0)

    def _frame(self, fr):
        """Gates and cell state share one buffer ``[i f o g c]``, so that ``[i f] * [g c]``
        is one call (contiguous blocks in both layouts as used: rows only at batch 1).
        Views are made once per call."""
        u, L = self.units, fr.L
        zz = L.buf(5 * u, self.dtype, zero=True)

        def part(lo, hi):
            return L.part(zz, lo * u, hi * u)
        p = L.buf(2 * u, self.dtype)
        fr.states.append(part(4, 5))
        fr.ws.update(z=part(0, 4), ifo=part(0, 3), o=part(2, 3), g=part(3, 4), c=part(4, 5),
                     if_=part(0, 2), gc=part(3, 5), p=p, p1=L.part(p, 0, u),
                     p2=L.part(p, u, 2 * u), t=L.buf(u, self.dtype),
                     mm=L.product(self, "Wc", fr.X), act=_activation(self.act, u, L.cols),
                     ract=_activation(self.ract, u, L.cols))
        return fr

    def step(self, fr):
        # outputs are passed positionally: keyword parsing is a tenth of a small call's cost
        ws = fr.ws
        z, ifo, c, t = ws["z"], ws["ifo"], ws["c"], ws["t"]
        np.matmul(*ws["mm"], z)
        if self.fused:
            _tanh_then_sigmoid(z, ifo, _HALF[self.dtype])
        else:
            ws["ract"](ifo, ifo)
            ws["act"](ws["g"], ws["g"])
        np.multiply(ws["if_"], ws["gc"], ws["p"])        # [i g | f c]
        np.add(ws["p1"], ws["p2"], c)
        ws["act"](c, t)
        np.multiply(ws["o"], t, fr.out)


class GRUCell(Cell):
    """``X = [h | x | 1]`` (reset_after) or ``[h | x | 1 | r h]``; the candidate's input part
    ``x W_h + b_h`` is its own product over ``[x | 1]``, or shares one with ``(r h) U_h``."""

    kind = "gru"
    gates = 3

    def __init__(self, spec: CellSpec):
        super().__init__(spec)
        self.reset_after = spec.reset_after
        self.extra_columns = 0 if spec.reset_after else spec.units

    def set(self, arrays: List[np.ndarray]) -> None:
        u = self.units
        kernel, recurrent, bias = self._arrays(arrays)
        b_in = b_rec = None
        if bias is not None:
            b_in, b_rec = (bias[0], bias[1]) if self.reset_after else (bias, None)
        (Wz, Wr, Wh), (Uz, Ur, Uh) = _gates(kernel, u), _gates(recurrent, u)
        bi, br = _gates(b_in, u), _gates(b_rec, u)
        # sigmoid z, r gates: one tanh over both per step
        self.fused = self.ract is A.sigmoid
        halve = 2 * u if self.fused else 0
        if self.reset_after:
            # [h | x | 1] @ [[U_z U_r U_h]; [W_z W_r 0]; [b_z + b'_z, b_r + b'_r, b'_h]]
            bands = [[Uz, Ur, Uh], [Wz, Wr, None]]
            if bi:
                bands.append([np.add(bi[0], br[0], dtype=self.dtype),       # type: ignore
                              np.add(bi[1], br[1], dtype=self.dtype), br[2]])  # type: ignore
        else:
            # [h | x | 1] @ [[U_z U_r]; [W_z W_r]; [b_z b_r]]
            bands = [[Uz, Ur], [Wz, Wr]] + ([bi[:2]] if bi else [])
        self.Wc = _assemble(self.dtype, bands, u, halve)
        # candidate: [x | 1] @ [W_h; b_h]  (reset_after)  or  [x | 1 | r h] @ [W_h; b_h; U_h]
        bands = [[Wh]] + ([[bi[2]]] if bi else []) + ([] if self.reset_after else [[Uh]])
        self.Wh = _assemble(self.dtype, bands, u)
        self._fold: Optional[np.ndarray] = None

    def _folded(self) -> np.ndarray:
        """reset_after at batch 1: ``[Wc | [0; W_h; b_h]]``, one product per step where two
        would cost two calls (made on first use; the zero block costs bandwidth, which a
        vector-matrix product has to spare)."""
        fold = self._fold
        if fold is None:
            u = self.units
            fold = np.zeros((self.Wc.shape[0], 4 * u), self.dtype)
            fold[:, :3 * u] = self.Wc
            fold[u:, 3 * u:] = self.Wh
            self._fold = fold
        return fold

    def _frame(self, fr):
        u, L, X = self.units, fr.L, fr.X
        width = u + self.features + int(self.use_bias)       # [h | x | 1]
        fold = self.reset_after and L.batch < fr.policy.fold_below and not L.cols
        a = L.buf((4 if fold else 3 if self.reset_after else 2) * u, self.dtype)
        xin = L.part(X, u, width + self.extra_columns)       # [x | 1] or [x | 1 | r h]
        fr.ws.update(a=a, zr=L.part(a, 0, 2 * u), z=L.part(a, 0, u), r=L.part(a, u, 2 * u),
                     hh=L.buf(u, self.dtype), d=L.buf(u, self.dtype),
                     act=_activation(self.act, u, L.cols), ract=_activation(self.ract, u, L.cols),
                     mm_h=L.product(self, "Wh", xin))
        if self.reset_after:
            fr.ws.update(rec_h=L.part(a, 2 * u, 3 * u),
                         xh=L.part(a, 3 * u, 4 * u) if fold else L.buf(u, self.dtype),
                         mm=(X, self._folded()) if fold else L.product(self, "Wc", X),
                         fold=fold)
        else:
            fr.ws.update(rh=L.part(X, width, width + u),
                         mm=L.product(self, "Wc", L.part(X, 0, width)))
        return fr

    def step(self, fr):
        ws, h = fr.ws, fr.out
        zr, hh, d = ws["zr"], ws["hh"], ws["d"]
        if self.reset_after:
            np.matmul(*ws["mm"], ws["a"])            # [zr | h U_h + b'_h (| x W_h + b_h)]
            if not ws["fold"]:
                np.matmul(*ws["mm_h"], ws["xh"])     # x W_h + b_h
        else:
            np.matmul(*ws["mm"], zr)
        if self.fused:
            _tanh_then_sigmoid(zr, zr, _HALF[self.dtype])
        else:
            ws["ract"](zr, zr)
        if self.reset_after:
            np.multiply(ws["r"], ws["rec_h"], hh)
            np.add(hh, ws["xh"], hh)
        else:
            np.multiply(ws["r"], h, ws["rh"])
            np.matmul(*ws["mm_h"], hh)
        ws["act"](hh, hh)
        np.subtract(h, hh, d)         # z h + (1 - z) hh  ==  hh + z (h - hh)
        np.multiply(d, ws["z"], d)
        np.add(d, hh, h)


class StackedCell:
    """``RNN([cell, cell, ...])``: cells applied in turn within each timestep.

    States are the cells' states concatenated in cell order; the output is the last cell's."""

    def __init__(self, cells: List[Cell]):
        self.cells = cells
        self.dtype = cells[0].dtype
        self._frames = threading.local()

    @property
    def features(self) -> int:
        return self.cells[0].features

    @property
    def weights_generation(self):
        return tuple(c.weights_generation for c in self.cells)

    @property
    def state_sizes(self) -> List[int]:
        return [s for c in self.cells for s in c.state_sizes]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def frame(self, batch, policy: LayoutPolicy = DEFAULT_POLICY, shape=None):
        cols = any(c.columns(batch, policy) for c in self.cells)   # one layout for all cells
        frames = [c.frame(batch, cols, policy) for c in self.cells]
        return Frame(frames[0].L, None, frames[0].x, frames[-1].out,
                     [s for f in frames for s in f.states], {"frames": frames}, policy)

    def step(self, fr):
        frames = fr.ws["frames"]
        for k, (cell, f) in enumerate(zip(self.cells, frames)):
            if k:
                np.copyto(f.x, frames[k - 1].out)
            cell.step(f)


def run(cell, x: np.ndarray, initial_states: Optional[Sequence[np.ndarray]],
        mask: Optional[np.ndarray],
        go_backwards: bool, return_sequences: bool, zero_output_for_mask: bool,
        prev_output: Optional[np.ndarray] = None
        ) -> Tuple[np.ndarray, Optional[np.ndarray], List[np.ndarray]]:
    """Run ``cell`` over ``x`` (batch, time, *features): any cell whose ``frame(batch,
    shape=...)`` gives an input slot ``x``, an output ``out_bs`` and states ``states_bs`` as
    (batch, *shape) views of one rank (feature-major frames: 1-D features only), and whose
    ``step(frame)`` advances them one timestep. ``mask`` is (batch, time), or (batch, time,
    *spatial) for cells whose outputs have spatial axes (ConvLSTM: per-pixel masks).

    Returns (last output, output sequence (batch, time, *out) in processing order or None,
    final states). A masked step keeps every state; its output is the previous output
    (``prev_output``, zeros by default, before the first step), or zeros when
    ``zero_output_for_mask`` (Keras TF backend).
    """
    batch, steps = x.shape[0], x.shape[1]
    dtype = cell.dtype
    fr = _frame_for(cell, batch, tuple(x.shape[2:]))
    states = fr.states_bs                            # (batch, ...) views, either layout
    if initial_states is None:                       # zeros
        for view in states:
            view.fill(0)
    else:
        for view, s in zip(states, initial_states):
            np.copyto(view, s, casting="unsafe")
    # time-major views, no copy: x_t as (features, batch) or (batch, *features)
    xs = x.transpose(1, 2, 0) if fr.cols else x.swapaxes(0, 1)
    if go_backwards:
        xs = xs[::-1]
    x_slot, out, step = fr.x, fr.out_bs, cell.step
    seq = np.empty((batch, steps) + out.shape[1:], dtype) if return_sequences else None
    seq_t = None if seq is None else seq.swapaxes(0, 1)

    if mask is None:
        for k, x_t in enumerate(xs):
            np.copyto(x_slot, x_t, "unsafe")
            step(fr)
            if seq_t is not None:
                np.copyto(seq_t[k], out)
        last = out.copy() if steps else np.zeros(out.shape, dtype)
    else:
        # (time, batch, [*spatial,] 1, ...): broadcasts over each sample's (or pixel's)
        # output and states
        m_tb = np.ascontiguousarray(np.asarray(mask, bool).swapaxes(0, 1))
        m_tb = m_tb.reshape(m_tb.shape + (1,) * (out.ndim + 1 - m_tb.ndim))
        if go_backwards:
            m_tb = m_tb[::-1]
        keep = ~m_tb
        saved = [np.empty(s.shape, dtype) for s in states]
        last = np.zeros(out.shape, dtype) if prev_output is None else \
            np.array(prev_output, dtype=dtype, copy=True)     # the previous output
        for k, x_t in enumerate(xs):
            np.copyto(x_slot, x_t, "unsafe")
            for s_old, s in zip(saved, states):
                np.copyto(s_old, s)
            step(fr)
            for s_old, s in zip(saved, states):
                np.copyto(s, s_old, where=keep[k])
            if zero_output_for_mask:
                last.fill(0)
            np.copyto(last, out, where=m_tb[k])
            if seq_t is not None:
                np.copyto(seq_t[k], last)
    return last, seq, [s.copy() for s in states]


class ConvLSTMCell(Cell):
    """The recurrent half of a ConvLSTM step. The input slot holds the step's input
    projection ``conv(x_t, W) + b``, made for all timesteps at once by ``ConvLSTMRecurrent``;
    a step adds ``conv(h, U)`` ("same", stride 1: one product over the windows of ``h``) and
    applies the gates.

    ``h`` lives inside a zero-bordered buffer, so its "same" padding costs nothing and its
    windows are one fixed view; a step copies them into one contiguous matrix (im2col) and
    multiplies once. Gates are reordered at load to ``i, f, o | c`` (sigmoid gates
    contiguous, pre-halved for the one-``tanh`` form when the activations are the usual ones),
    as in ``LSTMCell``."""

    kind = "conv_lstm"
    gates = 4
    _ORDER = (0, 1, 3, 2)

    def __init__(self, spec: CellSpec):
        super().__init__(spec)
        if spec.conv is None:
            raise ValueError("a conv_lstm cell needs its ConvSpec")
        self.conv: ConvSpec = spec.conv

    @property
    def state_sizes(self) -> List[int]:
        return [self.units, self.units]

    def columns(self, batch: int, policy: LayoutPolicy) -> bool:
        return False

    def set(self, arrays: List[np.ndarray]) -> None:
        kernel, recurrent, bias = self._arrays(arrays)
        self.features = kernel.shape[-2]
        self.fused = self.ract is A.sigmoid and self.act is A.tanh
        halve = 3 * self.units if self.fused else 0
        self.W = self._reorder(kernel, halve)                # (*k, cin, 4f), i f o | c
        self.b = None if bias is None else self._reorder(bias, halve)
        self.U = conv_k.kernel_matrices(self._reorder(recurrent, halve))[0]

    def _reorder(self, m: np.ndarray, halve: int) -> np.ndarray:
        blocks = _gates(m, self.units)
        out = np.concatenate([blocks[k] for k in self._ORDER], axis=-1).astype(self.dtype)
        out[..., :halve] *= out.dtype.type(0.5)
        return out

    def frame(self, batch: int, cols: Optional[bool] = None,
              policy: LayoutPolicy = DEFAULT_POLICY, shape=None) -> Frame:
        """``shape``: the per-step input, (*out spatial, 4 filters)."""
        u, k = self.units, self.conv.kernel_size
        spatial = tuple(shape[:-1])
        L = Layout(batch, False)
        lo = [(n - 1) // 2 for n in k]
        hp = np.zeros((batch, *(s + n - 1 for s, n in zip(spatial, k)), u), self.dtype)
        h = hp[(slice(None),) + tuple(slice(a, a + s) for a, s in zip(lo, spatial))]
        c = np.zeros((batch, *spatial, u), self.dtype)
        ones = (1,) * len(k)
        win = conv_k.windows_last(hp, k, ones, ones)          # (batch, *spatial, *k, u) view
        if win is None:                                       # "same" borders: never short
            raise ValueError(f"no windows for states of shape {spatial}")
        act, ract = self.act, self.ract
        if ract is None:
            raise ValueError("a conv_lstm cell needs a recurrent_activation")
        cols_ = np.empty(win.shape, self.dtype)
        z = np.empty((batch, *spatial, 4 * u), self.dtype)
        x = np.empty((batch, *spatial, 4 * u), self.dtype)
        fr = Frame(L, None, x, h, [h, c], {}, policy)
        fr.ws.update(win=win, cols=cols_, cols2=cols_.reshape(-1, self.U.shape[0]),
                     z=z, z2=z.reshape(-1, 4 * u), ifo=z[..., :3 * u], i=z[..., :u],
                     f=z[..., u:2 * u], o=z[..., 2 * u:3 * u], g=z[..., 3 * u:],
                     t=np.empty(c.shape, self.dtype),
                     act=lambda src, dst: act(src, out=dst),
                     ract=lambda src, dst: ract(src, out=dst))
        return fr

    def step(self, fr):
        ws = fr.ws
        z, c, t, g = ws["z"], fr.states[1], ws["t"], ws["g"]
        np.copyto(ws["cols"], ws["win"])                     # im2col of h's windows
        np.matmul(ws["cols2"], self.U, ws["z2"])
        np.add(z, fr.x, z)
        if self.fused:
            _tanh_then_sigmoid(z, ws["ifo"], _HALF[self.dtype])
        else:                                                # per gate: softmax & co.
            for gate in (ws["i"], ws["f"], ws["o"]):
                ws["ract"](gate, gate)
            ws["act"](g, g)
        np.multiply(ws["f"], c, c)                           # c = f c + i g
        np.multiply(ws["i"], g, t)
        np.add(c, t, c)
        ws["act"](c, t)
        np.multiply(ws["o"], t, fr.out)                      # h = o act(c), into its border


def conv_projection(x: np.ndarray, matrices, bias, cs: ConvSpec, dtype) -> np.ndarray:
    """A ConvLSTM's input projection ``conv(x_t, W) + b`` for every frame of ``x`` (batch,
    time, *spatial, cin), as one product over all frames' windows: (batch, time, *out
    spatial, columns of ``matrices``)."""
    b, t = x.shape[:2]
    frames = x.reshape((b * t,) + x.shape[2:])
    frames = conv_k.pad(frames, conv_k.pads(frames.shape[1:-1], cs.kernel_size, cs.strides,
                                            cs.dilation, cs.padding))
    y = conv_k.conv(frames, matrices, cs.kernel_size, cs.strides, cs.dilation)
    if y is None:
        raise ValueError(f"frames of shape {x.shape[2:]} are smaller than the kernel")
    y = y.astype(dtype, copy=False)
    if bias is not None:
        y += bias
    return y.reshape((b, t) + y.shape[1:])


class ConvLSTMRecurrent:
    """The kernel of a ConvLSTM layer: the input convolution of every timestep as one
    product over all frames' windows, then the one time loop (``run``) over the recurrent
    half (``ConvLSTMCell``)."""

    name = "numpy"
    quiet = False           # NumPy floating-point warnings (executor.run_direct)

    def __init__(self, spec: CellSpec, weights: CellWeights):
        self.cell = ConvLSTMCell(spec)
        arrays = [weights.kernel, weights.recurrent_kernel]
        if weights.bias is not None:
            arrays.append(weights.bias)
        self.cell.set(arrays)
        self.conv: ConvSpec = self.cell.conv
        self.W = conv_k.kernel_matrices(self.cell.W)

    @property
    def dtype(self):
        return self.cell.dtype

    def project(self, x: np.ndarray) -> np.ndarray:
        """``conv(x_t, W) + b`` for every frame of ``x`` (batch, time, *spatial, cin)."""
        return conv_projection(x, self.W, self.cell.b, self.conv, self.dtype)

    def run(self, x, initial_states, mask, go_backwards, return_sequences,
            zero_output_for_mask, prev_output=None):
        return run(self.cell, self.project(x), initial_states, mask, go_backwards,
                   return_sequences, zero_output_for_mask, prev_output)


_CELLS = {"simple_rnn": SimpleRNNCell, "lstm": LSTMCell, "gru": GRUCell}


class NumpyRecurrent:
    """The kernel of one recurrent layer: its cells' fast forms, made once from the specs and
    weights, and ``run`` over a sequence."""

    name = "numpy"
    quiet = False           # NumPy floating-point warnings (executor.run_direct)

    def __init__(self, specs: Sequence[CellSpec], weights: Sequence[CellWeights]):
        cells: List[Cell] = []
        for spec, w in zip(specs, weights):
            cell = _CELLS[spec.kind](spec)
            arrays = [w.kernel, w.recurrent_kernel]
            if w.bias is not None:
                arrays.append(w.bias)
            cell.set(arrays)
            cells.append(cell)
        self.cell = cells[0] if len(cells) == 1 else StackedCell(cells)

    @property
    def dtype(self):
        return self.cell.dtype

    def run(self, x, initial_states, mask, go_backwards, return_sequences,
            zero_output_for_mask, prev_output=None):
        return run(self.cell, x, initial_states, mask, go_backwards, return_sequences,
                   zero_output_for_mask, prev_output)
