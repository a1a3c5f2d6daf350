"""Recurrent cells and the one time loop that runs them.

Cells know the maths of one timestep; ``run`` knows time: direction, masks, sequences and
states (the split Keras uses between ``*Cell.call`` and ``backend.rnn``).

Speed: the input projection ``x @ W + b`` of every timestep is one matrix product done before
the loop (``Cell.project``); inside the loop each cell works in buffers allocated once per call
(``Cell.workspace``), so a step allocates nothing. Gate columns are reordered once when weights
are set so that gates sharing an activation are contiguous.

Formulas (Keras ``layers/rnn/{simple_rnn,lstm,gru}.py``):
  SimpleRNN  h = act(x W + b + h U)
  LSTM       z = x W + b + h U;  i, f, o = ract(z_i, z_f, z_o);  c = f c + i act(z_c);  h = o act(c)
  GRU        reset_after:  z, r = ract(x W_zr + b + h U_zr + b'); hh = act(x W_h + b + r (h U_h + b'))
             otherwise:    z, r = ract(x W_zr + b + h U_zr);       hh = act(x W_h + b + (r h) U_h)
             h = z h + (1 - z) hh
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np

from . import activations as A

# Activations that act elementwise can be applied to several gates in one call.
_AXIS_WISE = {A.softmax, A.log_softmax, A.sparsemax}


def _prescale(arrays, columns: int):
    """Halve the first ``columns`` columns (exact in binary floating point), so that
    ``sigmoid(x) = 0.5 * tanh(x / 2) + 0.5`` costs one tanh over all gates at once."""
    for a in arrays:
        if a is not None:
            a[..., :columns] *= a.dtype.type(0.5)


_HALF = {np.dtype(t): np.array(0.5, t) for t in (np.float16, np.float32, np.float64)}


def _half_to_sigmoid(z: np.ndarray) -> None:
    """``z`` holds ``tanh(x / 2)``; make it ``sigmoid(x)`` in place."""
    half = _HALF[z.dtype]
    np.multiply(z, half, out=z)
    np.add(z, half, out=z)


def _apply(fn, z: np.ndarray, units: int) -> None:
    """Apply ``fn`` in place to ``z`` made of gate blocks of ``units`` columns each."""
    if fn is A.linear:
        return
    if fn in _AXIS_WISE:
        for k in range(0, z.shape[1], units):
            blk = z[:, k:k + units]
            fn(blk, out=blk)
    else:
        fn(z, out=z)


class Cell:
    """One timestep of a recurrent layer. Subclasses fill ``W``, ``U``, ``b`` in ``set``."""

    kind = ""
    gates = 1

    def __init__(self, units: int, activation, recurrent_activation, use_bias: bool, dtype):
        self.units = units
        self.act = activation
        self.ract = recurrent_activation
        self.use_bias = use_bias
        self.dtype = np.dtype(dtype)
        self.W: Optional[np.ndarray] = None
        self.b: Optional[np.ndarray] = None

    @property
    def state_sizes(self) -> List[int]:
        return [self.units]

    @property
    def output_size(self) -> int:
        return self.units

    def bias_shape(self) -> Tuple[int, ...]:
        return (self.gates * self.units,)

    def weight_shapes(self) -> List[Tuple[Optional[int], ...]]:
        g = self.gates * self.units
        shapes = [(None, g), (self.units, g)]
        if self.use_bias:
            shapes.append(self.bias_shape())
        return shapes

    def project(self, x2d: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """``x @ W + b`` for rows of inputs (all timesteps at once, or one step)."""
        y = np.matmul(x2d, self.W, out=out)
        if self.b is not None:
            y += self.b
        return y

    def workspace(self, batch: int) -> dict:
        return {}

    def step(self, xp, states, new_states, ws) -> np.ndarray:
        raise NotImplementedError


def _cols(m: np.ndarray, order: Sequence[int], units: int) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate([m[..., k * units:(k + 1) * units] for k in order],
                                               axis=-1))


class SimpleRNNCell(Cell):
    kind = "simple_rnn"

    def set(self, arrays: List[np.ndarray]) -> None:
        self.W = np.ascontiguousarray(arrays[0], self.dtype)
        self.U = np.ascontiguousarray(arrays[1], self.dtype)
        self.b = np.asarray(arrays[2], self.dtype) if self.use_bias else None

    def step(self, xp, states, new_states, ws):
        h = new_states[0]
        np.matmul(states[0], self.U, out=h)
        h += xp
        _apply(self.act, h, self.units)
        return h


class LSTMCell(Cell):
    kind = "lstm"
    gates = 4
    _ORDER = (0, 1, 3, 2)   # Keras i, f, c, o  ->  i, f, o | c

    @property
    def state_sizes(self) -> List[int]:
        return [self.units, self.units]

    def set(self, arrays: List[np.ndarray]) -> None:
        u = self.units
        self.W = _cols(np.asarray(arrays[0], self.dtype), self._ORDER, u)
        self.U = _cols(np.asarray(arrays[1], self.dtype), self._ORDER, u)
        self.b = _cols(np.asarray(arrays[2], self.dtype), self._ORDER, u) if self.use_bias else None
        # the usual sigmoid gates + tanh: one tanh over all four gates per step
        self.fused = self.ract is A.sigmoid and self.act is A.tanh
        if self.fused:
            _prescale((self.W, self.U, self.b), 3 * u)

    def workspace(self, batch):
        """Buffers and the gate views into them, made once per call (views cost time too)."""
        u = self.units
        z = np.empty((batch, 4 * u), self.dtype)
        return {"z": z, "t": np.empty((batch, u), self.dtype), "ifo": z[:, :3 * u],
                "i": z[:, :u], "f": z[:, u:2 * u], "o": z[:, 2 * u:3 * u], "g": z[:, 3 * u:]}

    def step(self, xp, states, new_states, ws):
        z, t = ws["z"], ws["t"]
        np.matmul(states[0], self.U, out=z)
        np.add(z, xp, out=z)
        if self.fused:
            np.tanh(z, out=z)
            _half_to_sigmoid(ws["ifo"])
        else:
            _apply(self.ract, ws["ifo"], self.units)
            _apply(self.act, ws["g"], self.units)
        c, h = new_states[1], new_states[0]
        np.multiply(ws["f"], states[1], out=c)
        np.multiply(ws["i"], ws["g"], out=t)
        np.add(c, t, out=c)
        if self.fused:
            np.tanh(c, out=t)
        else:
            np.copyto(t, c)
            _apply(self.act, t, self.units)
        np.multiply(ws["o"], t, out=h)
        return h


class GRUCell(Cell):
    kind = "gru"
    gates = 3

    def __init__(self, units, activation, recurrent_activation, use_bias, dtype, reset_after):
        super().__init__(units, activation, recurrent_activation, use_bias, dtype)
        self.reset_after = reset_after

    def bias_shape(self):
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def set(self, arrays: List[np.ndarray]) -> None:
        u = self.units
        self.W = np.ascontiguousarray(arrays[0], self.dtype)
        U = np.asarray(arrays[1], self.dtype)
        self.b = self.b_rec = None
        if self.use_bias:
            bias = np.asarray(arrays[2], self.dtype)
            if self.reset_after:
                self.b, self.b_rec = np.ascontiguousarray(bias[0]), np.ascontiguousarray(bias[1])
            else:
                self.b = bias
        self.W, U = self.W.copy(), U.copy()
        self.b = None if self.b is None else self.b.copy()
        self.b_rec = None if self.b_rec is None else self.b_rec.copy()
        # sigmoid z, r gates: one tanh over both per step
        self.fused = self.ract is A.sigmoid
        if self.fused:
            _prescale((self.W, U, self.b, self.b_rec), 2 * u)
        if self.reset_after:
            self.U = np.ascontiguousarray(U)
        else:
            self.U_zr = np.ascontiguousarray(U[:, :2 * u])
            self.U_h = np.ascontiguousarray(U[:, 2 * u:])

    def _gates(self, zr):
        if self.fused:
            np.tanh(zr, out=zr)
            _half_to_sigmoid(zr)
        else:
            _apply(self.ract, zr, self.units)

    def workspace(self, batch):
        u = self.units
        zr = np.empty((batch, 2 * u), self.dtype)
        ws = {"zr": zr, "z": zr[:, :u], "r": zr[:, u:], "hh": np.empty((batch, u), self.dtype)}
        if self.reset_after:
            rec = np.empty((batch, 3 * u), self.dtype)
            ws.update(rec=rec, rec_zr=rec[:, :2 * u], rec_h=rec[:, 2 * u:])
        else:
            ws["rh"] = np.empty((batch, u), self.dtype)
        return ws

    def step(self, xp, states, new_states, ws):
        u = self.units
        h_prev, zr, hh = states[0], ws["zr"], ws["hh"]
        if self.reset_after:
            rec = ws["rec"]
            np.matmul(h_prev, self.U, out=rec)
            if self.b_rec is not None:
                np.add(rec, self.b_rec, out=rec)
            np.add(xp[:, :2 * u], ws["rec_zr"], out=zr)
            self._gates(zr)
            np.multiply(ws["r"], ws["rec_h"], out=hh)
        else:
            np.matmul(h_prev, self.U_zr, out=zr)
            np.add(zr, xp[:, :2 * u], out=zr)
            self._gates(zr)
            rh = ws["rh"]
            np.multiply(ws["r"], h_prev, out=rh)
            np.matmul(rh, self.U_h, out=hh)
        np.add(hh, xp[:, 2 * u:], out=hh)
        _apply(self.act, hh, u)
        h = new_states[0]
        np.subtract(h_prev, hh, out=h)    # z h + (1 - z) hh  ==  hh + z (h - hh)
        np.multiply(h, ws["z"], out=h)
        np.add(h, hh, out=h)
        return h


class StackedCell:
    """``RNN([cell, cell, ...])``: cells applied in turn within each timestep.

    States are the cells' states concatenated in cell order; the output is the last cell's."""

    def __init__(self, cells: List[Cell]):
        self.cells = cells
        self.dtype = cells[0].dtype
        self._splits = np.cumsum([0] + [len(c.state_sizes) for c in cells])

    @property
    def state_sizes(self) -> List[int]:
        return [s for c in self.cells for s in c.state_sizes]

    @property
    def output_size(self) -> int:
        return self.cells[-1].output_size

    def project(self, x2d, out=None):
        return self.cells[0].project(x2d, out=out)

    def workspace(self, batch):
        return [{"cell": c.workspace(batch),
                 "xp": np.empty((batch, c.gates * c.units), c.dtype)} for c in self.cells]

    def step(self, xp, states, new_states, ws):
        out = None
        for k, cell in enumerate(self.cells):
            lo, hi = self._splits[k], self._splits[k + 1]
            if k:
                xp = cell.project(out, out=ws[k]["xp"])
            out = cell.step(xp, states[lo:hi], new_states[lo:hi], ws[k]["cell"])
        return out


_BLOCK_VALUES = 2 << 20      # projected inputs held at once: 8 MB of float32


def _projected(cell, x: np.ndarray, go_backwards: bool):
    """Yield ``(t, x[:, t] @ W + b)`` in processing order. Timesteps are projected a block at
    a time, one matrix product per block: as fast as one product over the whole sequence,
    but the buffer stays small and in cache, and is reused across blocks."""
    batch, steps, feats = x.shape
    width = cell.W.shape[1] if isinstance(cell, Cell) else cell.cells[0].W.shape[1]
    block = max(1, min(steps, _BLOCK_VALUES // max(1, batch * width)))
    buf = np.empty((block * batch, width), cell.dtype)
    for a in range(0, steps, block):
        n = min(block, steps - a)
        if go_backwards:
            xb, times = x[:, steps - a - n:steps - a][:, ::-1], range(steps - 1 - a, -1, -1)
        else:
            xb, times = x[:, a:a + n], range(a, a + n)
        xb = xb.reshape(n, feats) if batch == 1 else xb.transpose(1, 0, 2)
        flat = np.ascontiguousarray(xb, cell.dtype).reshape(n * batch, feats)
        proj = cell.project(flat, out=buf[:n * batch]).reshape(n, batch, width)
        for j, t in zip(range(n), times):
            yield t, proj[j]


def run(cell, x: np.ndarray, initial_states: Sequence[np.ndarray], mask: Optional[np.ndarray],
        go_backwards: bool, return_sequences: bool, zero_output_for_mask: bool,
        prev_output: Optional[np.ndarray] = None
        ) -> Tuple[np.ndarray, Optional[np.ndarray], List[np.ndarray]]:
    """Run ``cell`` over ``x`` (batch, time, features).

    Returns (last output, output sequence (batch, time, units) in processing order or None,
    final states). A masked step keeps every state; its output is the previous output
    (``prev_output``, zeros by default, before the first step), or zeros when
    ``zero_output_for_mask`` (Keras TF backend).
    """
    batch, steps = x.shape[0], x.shape[1]
    dtype = cell.dtype
    states = [np.array(s, dtype=dtype, copy=True) for s in initial_states]
    spare = [np.empty_like(s) for s in states]
    ws = cell.workspace(batch)
    units = cell.output_size
    seq = np.empty((steps, batch, units), dtype) if return_sequences else None
    out = np.zeros((batch, units), dtype)
    inputs = _projected(cell, x, go_backwards)

    if mask is None:
        for k, (t, xp_t) in enumerate(inputs):
            out = cell.step(xp_t, states, spare, ws)
            states, spare = spare, states
            if seq is not None:
                seq[k] = out
        last = out.copy()
    else:
        m_tb = np.ascontiguousarray(np.asarray(mask, bool).T)[:, :, None]
        keep = ~m_tb
        last = np.zeros((batch, units), dtype) if prev_output is None else \
            np.array(prev_output, dtype=dtype, copy=True)     # the previous output
        for k, (t, xp_t) in enumerate(inputs):
            new = cell.step(xp_t, states, spare, ws)
            for s_new, s_old in zip(spare, states):
                np.copyto(s_new, s_old, where=keep[t])
            if zero_output_for_mask:
                last.fill(0)
            np.copyto(last, new, where=m_tb[t])
            states, spare = spare, states
            if seq is not None:
                seq[k] = last
    seq_out = None if seq is None else np.ascontiguousarray(seq.transpose(1, 0, 2))
    return last, seq_out, states
