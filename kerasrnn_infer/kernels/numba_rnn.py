"""The compiled recurrent kernel (``pip install kerasrnn-infer[jit]``): SimpleRNN, LSTM, GRU
and ConvLSTM1D/2D cells run by numba-compiled loops, tested against ``kerasrnn_infer.cells``
and the NumPy kernel (``NumbaConvLSTM``: one row per pixel, windows gathered per step).

One compiled call runs a cell over the whole sequence (kernels/_numba_impl.py ``seq``): no
Python call per timestep. Within it:

- the weights are packed once, at load, into column panels, and every product is the
  compiled loops' own register-blocked one (kernels/_simd.py): the input projection
  ``x W + b`` one product per chunk of timesteps (``CHUNK_VALUES`` values, kept in cache),
  then each timestep's recurrent product ``h U`` one more. It is faster than NumPy's BLAS at
  every shape a recurrent layer needs, and the compiled kernel faster than the NumPy one at
  every batch size (tools/bench.py --jit, docs/jit.md), so it runs every batch size;
- each sample's gates are one vectorised loop (float32 ``tanh`` without a libm call);
- padding masks (each sample's unmasked steps one run, all from the first step or all to the
  last: ``pad_sequences`` either way, Embedding ``mask_zero``) run the samples sorted by
  length, so that the samples active at a timestep are a leading block: only their products
  are computed, and timesteps where none is active cost nothing. Other masks compute every
  product and keep the masked samples' states;
- an Embedding layer's output need not be made: ``run_ids`` and ``run_pair_ids`` look the
  rows up inside the same compiled call, in the sample order the mask gives
  (executor.run_sequential decides when).

Numbers: the same formulas as the NumPy kernel (sigmoid as ``0.5 tanh(x / 2) + 0.5``); the
float32 ``tanh`` differs from NumPy's by at most 2.4e-7 (kernels/_numba_impl.py), products
are summed in another order (fused multiply-adds), so results differ from the NumPy kernel
by float rounding only: tests hold them within 1e-6 of it and of the reference, except
where the NumPy kernel's own rounding error reaches 1e-6 (a float32 SimpleRNN over 120
steps whose recurrent kernel has spectral radius 1: 1.1e-6 from float64), where both are
held within 2e-6 of float64 and of each other. For one input the results are the
same bits on every call and thread. Stacked cells run one after the other over the whole
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

# measured thresholds (tools/bench.py --jit, docs/jit.md)
CHUNK_VALUES = 1 << 16    # values of the input projection computed per product
# ConvLSTM: bytes of h's windows gathered per product (64 KB to 512 KB measured alike; all at
# once, 9 MB for a 40x40 map of 40 filters at batch 4, took 1.1x the NumPy kernel's time)
WINDOW_TILE_BYTES = 1 << 17

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


def product() -> str:
    """The compiled loops' matrix product (kernels/_simd.py), as built for this CPU."""
    from . import _simd
    return _simd.describe()


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
    return {"seq": _numba_impl.seq, "seq_two": _numba_impl.seq_two,
            "classify": _numba_impl.classify, "embed_seq": _numba_impl.embed_seq,
            "dense": _numba_impl.dense}




def _aligned(a, dt) -> np.ndarray:
    """A C-contiguous copy of ``a`` whose data start on a 64-byte boundary (a cache line):
    the compiled loops stream the weights every timestep with 64-byte vector loads, which
    cost up to 1.4x more when every load straddles two lines (measured: a 64x256 float32
    vector-matrix product, 0.57 against 0.79 us)."""
    a = np.asarray(a, dt)
    buf = np.empty(a.nbytes + 64, np.uint8)
    start = -buf.ctypes.data % 64
    out = buf[start:start + a.nbytes].view(dt).reshape(a.shape)
    out[...] = a
    return out


class _Cell:
    """One cell's weights as the compiled loops take them: packed (kernels/_simd.py)."""

    def __init__(self, spec: CellSpec, w: CellWeights):
        from . import _simd
        dt = spec.dtype
        self.spec = spec
        self.kind = _KINDS[spec.kind]
        self.units = u = spec.units
        self.features = w.kernel.shape[0]

        def pack(m):
            return _simd.pack(np.asarray(m, dt), lambda shape: _aligned(np.empty(shape, dt), dt))
        self.W = pack(w.kernel)
        U = np.asarray(w.recurrent_kernel, dt)
        g = U.shape[1]
        if w.bias is None:
            b_in, b_rec = _aligned(np.zeros(g), dt), _aligned(np.zeros(g), dt)
        elif spec.kind == "gru" and spec.reset_after:
            b_in, b_rec = _aligned(w.bias[0], dt), _aligned(w.bias[1], dt)
        else:
            b_in, b_rec = _aligned(w.bias, dt), _aligned(np.zeros(g), dt)
        self.b_in, self.b_rec = b_in, b_rec
        self.reset_after = spec.kind == "gru" and spec.reset_after
        if spec.kind == "gru" and not spec.reset_after:     # z and r apart from the candidate
            self.rec, self.U_h = pack(U[:, :2 * u]), pack(U[:, 2 * u:])
        else:
            self.rec = pack(U)
            self.U_h = np.zeros((1, 1, 1), dt)              # not read: any array of the type
        self.act = ACTIVATIONS[spec.activation]
        ract = spec.recurrent_activation
        self.ract = 0 if ract is None else ACTIVATIONS[ract]
        self.n_states = len(spec.state_sizes)
        self.cst = _aligned([0.5, 0.2, 6.0, 1.0, 0.0], dt)
        self.fast = dt == np.dtype(np.float32)      # float32: the vectorised tanh
        self.dtype = dt
        self.seq = self.call = _compiled()["seq"]
        self.empty3, self.empty2 = np.empty((0, 0, 0), dt), np.empty((0, 0), dt)
        self.geo = np.zeros(7, np.int64)                    # not a ConvLSTM
        self.width = self.W.shape[0] * self.W.shape[2]

    def bind(self) -> None:
        """After a first call has compiled this cell's loop: call its compiled entry point
        directly, without numba's per-call type dispatch (1 us a call, several times that
        when the call's code is out of cache). Safe because ``run`` passes only arrays of
        the cell's dtype, C-contiguous and aligned (its own, ones it made, or the input's
        time-major view when that already is one: ``prepare``; read only, so its writeable
        flag, which the entry point does not see, does not matter), and Python bools and
        ints: the types of that first call, every time."""
        self.call = _entry_point(self.seq, self.first_args)

    def args(self, xt, init, masking, go_backwards, return_sequences, zero_out, prev_output,
             geo=None, size=None):
        """The arguments of ``seq`` for one cell over ``xt`` (time, batch, features),
        time-major; ``masking`` from ``_masking``. ConvLSTM: ``xt`` (time, rows, >= 4
        filters) is the input projection and ``geo`` the map's geometry
        (``NumbaConvLSTM``). ``size``: (time, batch) when ``xt`` is a placeholder
        (``args_embedded``)."""
        T, b = xt.shape[:2] if size is None else size
        u, dt = self.units, self.dtype
        # (n_states, b, u), a new array
        states = np.zeros((self.n_states, b, u), dt) if init is None else np.array(init, dt)
        mode = masking[0]
        if not mode:                                    # not written without a mask
            last = self.empty2
        else:
            last = np.zeros((b, u), dt) if prev_output is None else np.array(prev_output, dt)
        seq = np.empty((b, T, u), dt) if return_sequences else self.empty3
        chunk = 0 if geo is not None else max(1, min(T, CHUNK_VALUES // (b * self.width)))
        return (self.kind, self.reset_after, xt, self.W, self.b_in, self.rec, self.U_h,
                self.b_rec, states, masking[1], masking[2], go_backwards, seq, last,
                zero_out, self.act, self.ract, mode, return_sequences, self.cst, self.fast,
                chunk, self.geo if geo is None else geo)

    @staticmethod
    def results(args, mode=None):
        """(last output, sequence in processing order or None, states) once ``seq`` has run
        on ``args`` (with mask ``mode`` when given: ``args_embedded``)."""
        states, seq, last, want_seq = args[8], args[12], args[13], args[18]
        if not (args[17] if mode is None else mode):
            last = states[0].copy()
        return last, (seq if want_seq else None), list(states)

    def args_embedded(self, b, T, go_backwards, return_sequences, zero_out):
        """``args`` for ``_numba_impl.embed_seq``: the input, mask, counts and mode are
        placeholders it replaces (``_EMBEDDED``: a mode that makes ``last`` whatever the
        mode turns out to be)."""
        return self.args(self.empty3, None, _EMBEDDED, go_backwards, return_sequences,
                         zero_out, None, size=(T, b))

    def run(self, xt, init, masking, go_backwards, return_sequences, zero_out, prev_output,
            geo=None):
        """``seq`` for this cell (``args``), its ``results``."""
        args = self.args(xt, init, masking, go_backwards, return_sequences, zero_out,
                         prev_output, geo)
        if self.call is self.seq:                       # not bound yet: through numba
            self.first_args = args
        self.call(*args)
        return self.results(args)


def _entry_point(dispatcher, args):
    """The compiled entry point of ``dispatcher`` for the types of ``args`` (it has been
    called with them), else the dispatcher itself."""
    compiled = dispatcher.overloads.get(tuple(dispatcher.typeof_pyval(a) for a in args))
    return dispatcher if compiled is None else compiled.entry_point


_NO_MASK = np.ones((1, 1), bool)
_NO_COUNTS = np.zeros(1, np.int64)
_UNMASKED = (0, _NO_MASK, _NO_COUNTS)
_EMBEDDED = (-1, _NO_MASK, _NO_COUNTS)  # args_embedded: embed_seq puts the mode in
_CLASSIFY = None        # classify's entry point for C-contiguous bool masks (see _Cell.bind)
_ID_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_EMBED_SEQ: dict = {}   # embed_seq's entry points by (ids, table) dtypes (C-contiguous arrays)


def _masking(mask):
    """How the compiled loop applies ``mask`` (batch, time): ``(mode, mask, counts)`` for
    ``seq``, and the order the samples run in (None: as given); see ``_numba_impl.classify``.
    Padding masks (mode 2) run the samples sorted by length so that only the active ones'
    products are computed."""
    if mask is None:
        return _UNMASKED, None
    global _CLASSIFY
    m = np.array(mask, bool, order="C")                 # a new array (see _Cell.bind)
    if _CLASSIFY is None:                               # the first call, then bound
        classify = _compiled()["classify"]
        mode, counts, order, reordered = classify(m)
        _CLASSIFY = _entry_point(classify, (m,))
    else:
        mode, counts, order, reordered = _CLASSIFY(m)
    if mode == 0:
        return _UNMASKED, None
    return (mode, m if mode == 1 else _NO_MASK, counts), (order if reordered else None)


class NumbaRecurrent:
    """The kernel of one recurrent layer with the compiled form (the NumPy kernel for empty
    inputs). Same interface as NumpyRecurrent."""

    name = "numba"
    quiet = True            # raises no NumPy floating-point warnings (executor.run_direct)

    def __init__(self, specs: Sequence[CellSpec], weights: Sequence[CellWeights]):
        from .numpy_rnn import NumpyRecurrent
        self.cells = [_Cell(s, w) for s, w in zip(specs, weights)]
        self.dtype = specs[0].dtype
        self.numpy = NumpyRecurrent(specs, weights)
        self.two = None                 # run_pair's bound entry point, after its first call
        self.warm_up()

    def warm_up(self) -> None:
        """Compile (or load from the disk cache) this layer's kernels now, at load, rather
        than in the first predict: every mask mode, with and without sequences."""
        for c in self.cells:
            x = np.zeros((2, 2, c.features), self.dtype)
            init = [np.zeros((2, c.units), self.dtype)] * c.n_states
            for mask in (None, np.array([[1, 0], [0, 1]], bool), np.array([[1, 1], [1, 0]], bool)):
                masking = _masking(mask)[0]
                c.run(x, init, masking, False, True, False, None)
                c.run(x, init, masking, True, False, True, None)
            c.bind()

    def prepare(self, x, mask):
        """What ``run`` computes from the input and the mask alone (``run_pair``: once for
        both halves): the input time-major, how the mask is applied, the sample order (see
        ``_masking``)."""
        masking, order = _masking(mask)
        if order is not None:                   # samples sorted by length (padding masks)
            x = x[order]
        # time-major, so that a chunk of timesteps is one product. The compiled entry point
        # takes arrays of the type it was compiled for (_Cell.bind): a copy unless the view
        # already is one (one sample: swapping the axes moves nothing); it is only read
        return _time_major(x, self.dtype), masking, order

    # ----- an Embedding layer's output, made in the compiled call -----------------------------
    def warm_embedded(self, table_dtype, ids_dtype) -> None:
        """Compile (or load from the disk cache) ``run_ids`` and ``run_pair_ids`` for ids of
        ``ids_dtype`` (int32 or int64: the model's input, layers/containers.py) and this
        table dtype now, at load. Other id dtypes are declined (``run_ids``: None), never
        compiled inside a call: each form of the lookup and loops together is seconds to
        compile."""
        if ids_dtype is None or np.dtype(ids_dtype) not in _ID_DTYPES:
            return
        ids = np.array([[1, 2], [2, 0]], ids_dtype)
        table = np.zeros((3, self.cells[0].features), table_dtype)
        if not self._takes_ids(ids, table) or len(self.cells) != 1:
            return
        one = self.cells[0].args_embedded(2, 2, False, True, False)
        key = (ids.dtype, table.dtype)
        if key not in _EMBED_SEQ:
            embed_seq = _compiled()["embed_seq"]
            for mask_zero in (False, True):
                embed_seq(ids, table, mask_zero, one, one, False)
            _EMBED_SEQ[key] = _entry_point(embed_seq, (ids, table, True, one, one, False))

    def _takes_ids(self, ids, table) -> bool:
        return (ids.ndim == 2 and ids.dtype in _ID_DTYPES and ids.size > 0 and
                table.dtype == self.dtype and table.flags.c_contiguous and
                table.flags.aligned and table.shape[1] == self.cells[0].features)

    def _embed_seq(self, ids, table, mask_zero, one, two, both, out_of_range):
        """``_numba_impl.embed_seq``'s entry point (``warm_embedded``): (mode, order or
        None), or None where it is not compiled for these dtypes."""
        call = _EMBED_SEQ.get((ids.dtype, table.dtype))
        if call is None:
            return None
        if not (ids.flags.c_contiguous and ids.flags.aligned):
            ids = np.array(ids, order="C")              # the entry point's layout (bind)
        bad, value, mode, order, reordered = call(ids, table, bool(mask_zero), one, two, both)
        if bad:
            out_of_range(int(value))
        return mode, (order if reordered else None)

    def run_ids(self, ids, table, mask_zero, out_of_range, go_backwards, return_sequences,
                zero_output_for_mask):
        """``run`` on the Embedding output ``table[ids]`` with its mask (``ids != 0`` when
        ``mask_zero``), without making either: one compiled call looks the rows up,
        time-major, in the sample order the mask gives, and runs the cell
        (``_numba_impl.embed_seq``). None when it cannot take these arrays or this layer
        (stacked cells; then: the Embedding layer, then ``run``); ``out_of_range(id)`` raises
        for an id outside the table."""
        if len(self.cells) != 1 or not self._takes_ids(ids, table):
            return None
        cell = self.cells[0]
        one = cell.args_embedded(*ids.shape, go_backwards, return_sequences,
                                 zero_output_for_mask)
        done = self._embed_seq(ids, table, mask_zero, one, one, False, out_of_range)
        if done is None:
            return None
        return _unsorted(done[1], *_Cell.results(one, done[0]))

    def run_pair_ids(self, other, ids, table, mask_zero, out_of_range, options,
                     other_options, return_sequences):
        """``run_pair`` (``pairs_with``) on the Embedding output ``table[ids]``, as
        ``run_ids``: the lookup and both halves in one compiled call."""
        if not self._takes_ids(ids, table):
            return None
        b, T = ids.shape
        one = self.cells[0].args_embedded(b, T, options[0], return_sequences, options[1])
        two = other.cells[0].args_embedded(b, T, other_options[0], return_sequences,
                                           other_options[1])
        done = self._embed_seq(ids, table, mask_zero, one, two, True, out_of_range)
        if done is None:
            return None
        return tuple(_unsorted(done[1], *_Cell.results(a, done[0])) for a in (one, two))

    def run(self, x, initial_states, mask, go_backwards, return_sequences,
            zero_output_for_mask, prev_output=None):
        b, T = x.shape[:2]
        if b == 0 or T == 0:
            return self.numpy.run(x, initial_states, mask, go_backwards, return_sequences,
                                  zero_output_for_mask, prev_output)
        xt, masking, order = self.prepare(x, mask)
        if order is not None:
            if initial_states is not None:
                initial_states = [s[order] for s in initial_states]
            prev_output = None if prev_output is None else prev_output[order]
        if order is None and len(self.cells) == 1:
            return self.cells[0].run(xt, initial_states, masking, go_backwards,
                                     return_sequences, zero_output_for_mask, prev_output)
        k, finals = 0, []
        for n, cell in enumerate(self.cells):
            init = None if initial_states is None else initial_states[k:k + cell.n_states]
            k += cell.n_states
            top = n == len(self.cells) - 1
            last, seq, states = cell.run(xt, init, masking, go_backwards,
                                         return_sequences or not top,
                                         zero_output_for_mask, prev_output if top else None)
            finals += states
            if not top:                         # back in time order, time-major
                xt = np.array((seq[:, ::-1] if go_backwards else seq).swapaxes(0, 1),
                              order="C")
        return _unsorted(order, last, seq if return_sequences else None, finals)

    # ----- direct steps (executor.direct_plan): the common call in one frame -----------------
    def direct(self, layer, general):
        """The direct step of recurrent ``layer`` (its ``kernel``: this one): without a
        mask, on an input of this kernel's dtype and width, not empty, the compiled call in
        one frame, the last output a view of the final states (which no one else holds);
        anything else, or once the layer has another kernel (new weights), ``general(x,
        mask)``, the layer's own."""
        if len(self.cells) != 1:
            return general
        cell, dt, F = self.cells[0], self.dtype, self.cells[0].features
        options = (layer.go_backwards, layer.return_sequences, layer.zero_output_for_mask)
        seqs = layer.return_sequences

        def step(x, mask):
            if mask is not None or x.dtype != dt or x.ndim != 3 or x.shape[2] != F or \
                    not x.size or layer.kernel is not self:
                return general(x, mask)
            args = cell.args(_time_major(x, dt), None, _UNMASKED, *options, None)
            cell.call(*args)
            return (args[12], None) if seqs else (args[8][0], None)
        return step

    def direct_pair(self, other, layer, general):
        """``direct`` for Bidirectional ``layer`` whose halves run on this kernel and
        ``other`` (``pairs_with``), its outputs the concatenated last ones (no sequences,
        merge_mode concat; else ``general``)."""
        if layer.return_sequences or layer.merge_mode != "concat":
            return general
        fwd, bwd = layer.forward, layer.backward
        one_cell, two_cell, dt, F = self.cells[0], other.cells[0], self.dtype, \
            self.cells[0].features
        one_opts = (fwd.go_backwards, False, fwd.zero_output_for_mask)
        two_opts = (bwd.go_backwards, False, bwd.zero_output_for_mask)

        def step(x, mask):
            if mask is not None or x.dtype != dt or x.ndim != 3 or x.shape[2] != F or \
                    not x.size or fwd.kernel is not self or bwd.kernel is not other or \
                    self.two is None:
                return general(x, mask)
            xt = _time_major(x, dt)
            one = one_cell.args(xt, None, _UNMASKED, *one_opts, None)
            two = two_cell.args(xt, None, _UNMASKED, *two_opts, None)
            self.two(one, two)
            return np.concatenate((one[8][0], two[8][0]), axis=1), None
        return step

    def direct_ids(self, other, layer, emb, general):
        """``direct`` for recurrent or Bidirectional ``layer`` (``other``: the backward
        half's kernel, or None) on the output of Embedding layer ``emb``, taking the ids:
        the lookup and the loops in one compiled call (``run_ids``, ``run_pair_ids``) on ids
        of the dtype it was compiled for (``warm_embedded``), no sequences (a
        Bidirectional: merged by concat); else ``general``."""
        if layer.return_sequences or len(self.cells) != 1 or (
                other is not None and layer.merge_mode != "concat"):
            return general
        halves = [layer] if other is None else [layer.forward, layer.backward]
        kernels = [self] if other is None else [self, other]
        ids_dt = layer.embedding_ids
        table, mask_zero = emb.table, bool(emb.mask_zero)
        if ids_dt is None or not self._takes_ids(np.zeros((1, 1), ids_dt), table):
            return general
        cells = [k.cells[0] for k in kernels]
        options = [(h.go_backwards, False, h.zero_output_for_mask) for h in halves]
        two = other is not None

        def step(x, mask):
            if x.dtype != ids_dt or x.ndim != 2 or not x.size or emb.table is not table or \
                    any(h.kernel is not k for h, k in zip(halves, kernels)):
                return general(x, mask)
            b, T = x.shape
            args = [c.args_embedded(b, T, *o) for c, o in zip(cells, options)]
            done = self._embed_seq(x, table, mask_zero, args[0], args[-1], two,
                                   emb.out_of_range)
            if done is None:                    # not compiled for these dtypes
                return general(x, mask)
            lasts = [a[13] for a in args] if done[0] else [a[8][0] for a in args]
            out = np.concatenate(lasts, axis=1) if two else lasts[0]
            return (out if done[1] is None else out[np.argsort(done[1])]), None
        return step

    # ----- the two halves of a Bidirectional layer, in one compiled call --------------------
    def pairs_with(self, other) -> bool:
        """Whether ``run_pair`` can run this kernel and ``other`` together: one cell each,
        of one dtype, reading inputs of one width."""
        return (isinstance(other, NumbaRecurrent) and len(self.cells) == 1 and
                len(other.cells) == 1 and self.dtype == other.dtype and
                self.cells[0].features == other.cells[0].features)

    def warm_pair(self, other) -> None:
        """Compile (or load from the disk cache) ``run_pair``'s loop now, at load."""
        f = self.cells[0].features
        x = np.zeros((2, 2, f), self.dtype)
        for mask in (None, np.array([[1, 0], [0, 1]], bool), np.array([[1, 1], [1, 0]], bool)):
            for want_seq in (True, False):
                self.run_pair(other, x, mask, (False, want_seq), (True, want_seq), want_seq)

    def run_pair(self, other, x, mask, options, other_options, return_sequences):
        """``run`` of this kernel and of ``other`` (``pairs_with``) on the same ``x`` and
        ``mask``, without initial states: ((last, sequence, states), the same for
        ``other``). ``options``: (go_backwards, zero_output_for_mask) of each."""
        b, T = x.shape[:2]
        if b == 0 or T == 0:
            return (self.run(x, None, mask, options[0], return_sequences, options[1]),
                    other.run(x, None, mask, other_options[0], return_sequences,
                              other_options[1]))
        xt, masking, order = self.prepare(x, mask)
        one = self.cells[0].args(xt, None, masking, options[0], return_sequences, options[1],
                                 None)
        two = other.cells[0].args(xt, None, masking, other_options[0], return_sequences,
                                  other_options[1], None)
        if self.two is None:                    # the first call: through numba, then bound
            seq_two = _compiled()["seq_two"]
            seq_two(one, two)
            self.two = _entry_point(seq_two, (one, two))
        else:
            self.two(one, two)
        return tuple(_unsorted(order, *_Cell.results(a)) for a in (one, two))


def _time_major(x, dt):
    """``x`` (batch, time, features) of dtype ``dt`` time-major, as the compiled entry point
    takes it (``NumbaRecurrent.prepare``): the view where it already is C-contiguous and
    aligned (one sample), else a copy."""
    xt = x.swapaxes(0, 1)
    flags = xt.flags
    if xt.dtype == dt and flags.c_contiguous and flags.aligned:
        return xt
    return np.array(xt, dt, order="C")


def _unsorted(order, last, seq, finals):
    """Outputs of samples run in ``order`` (``_masking``) back in the given order."""
    if order is None:
        return last, seq, finals
    back = np.argsort(order)
    return last[back], (None if seq is None else seq[back]), [s[back] for s in finals]


class NumbaConvLSTM:
    """The compiled kernel of a ConvLSTM1D or ConvLSTM2D layer: the input convolution of
    every timestep as the NumPy kernel makes it (one product over all frames' windows), then
    one compiled time loop (``_numba_impl.seq``) whose rows are the (sample, pixel) pairs:
    per step the windows of ``h`` are gathered and multiplied by the packed recurrent kernel,
    and each pixel's gates are the LSTM's. Masks per sample or per pixel, states, direction,
    sequences as ``NumpyRecurrent``; same interface."""

    name = "numba"
    quiet = False           # its input convolution is the NumPy kernel's

    def __init__(self, spec: CellSpec, weights: CellWeights):
        from . import conv as conv_k
        from .numpy_rnn import ConvLSTMRecurrent
        if spec.conv is None:
            raise ValueError("a conv_lstm cell needs its ConvSpec")
        self.numpy = ConvLSTMRecurrent(spec, weights)       # empty inputs
        self.conv = spec.conv
        self.dtype = dt = spec.dtype
        f = spec.units
        self.kernel = list(self.conv.kernel_size)
        if len(self.kernel) == 1:                           # ConvLSTM1D: a 1-pixel-high map
            self.kernel = [1] + self.kernel
        # the cell's kernels as matrices, rows in the (kernel height, width, channel) order
        # of _numba_impl.windows (only the recurrent one is used: the projection is made
        # here, with the bias)
        flat = CellWeights(np.asarray(weights.kernel, dt).reshape(-1, 4 * f),
                           np.asarray(weights.recurrent_kernel, dt).reshape(-1, 4 * f),
                           weights.bias)
        self.W = conv_k.kernel_matrices(np.asarray(weights.kernel, dt))
        self.bias = None if weights.bias is None else np.asarray(weights.bias, dt)
        self.cell = _Cell(CellSpec("lstm", f, spec.activation, spec.recurrent_activation,
                                   spec.use_bias, False, dt), flat)
        self.warm_up()

    def warm_up(self) -> None:
        """Compile (or load from the disk cache) the loop now, at load: masked and not."""
        proj = np.zeros((2, 2, 2, 2, 4 * self.cell.units), self.dtype)
        for mask in (None, np.array([[1, 0], [0, 1]], bool)):
            for back in (False, True):
                self._run(proj, None, mask, back, not back, back, None)
        self.cell.bind()

    def _geo(self, spatial):
        kh, kw = self.kernel
        H, Wd = (1, spatial[0]) if len(spatial) == 1 else spatial
        row = kh * kw * self.cell.units * self.dtype.itemsize     # one row's window
        tile = max(8, WINDOW_TILE_BYTES // row)
        return np.array([H, Wd, kh, kw, (kh - 1) // 2, (kw - 1) // 2, tile], np.int64)

    def _run(self, proj, initial_states, mask, go_backwards, return_sequences, zero_out,
             prev_output):
        """The time loop over ``proj`` (time, batch, *spatial, 4 filters), the input
        projection, time-major."""
        T, b = proj.shape[:2]
        spatial = proj.shape[2:-1]
        P = int(np.prod(spatial))
        c = self.cell
        f, width = c.units, c.W.shape[0] * c.W.shape[2]
        rows = b * P
        if width == 4 * f and proj.flags.c_contiguous and proj.flags.writeable:
            xt = proj.reshape(T, rows, width)               # whole panels: as it is
        else:
            xt = np.zeros((T, rows, width), self.dtype)     # padded to whole panels
            xt[:, :, :4 * f] = proj.reshape(T, rows, 4 * f)
        init = None if initial_states is None else \
            [np.asarray(s, self.dtype).reshape(rows, f) for s in initial_states]
        prev = None if prev_output is None else np.asarray(prev_output).reshape(rows, f)
        masking = _UNMASKED
        if mask is not None:
            m = np.asarray(mask, bool)
            if m.ndim == 2:                                 # per sample: every pixel's row
                m = np.repeat(m, P, axis=0)
            else:                                           # per pixel: (b, T, *spatial)
                m = np.moveaxis(m, 1, -1).reshape(rows, T)
            m = np.array(m, bool, order="C")
            if not m.all():
                masking = (1, m, _NO_COUNTS)
        last, seq, states = c.run(xt, init, masking, go_backwards, return_sequences,
                                  zero_out, prev, self._geo(spatial))
        shape = (b, *spatial, f)
        last = last.reshape(shape)
        if seq is not None:                                 # (rows, T, f) -> (b, T, *sp, f)
            seq = np.moveaxis(seq.reshape(b, P, T, f), 2, 1).reshape((b, T) + shape[1:])
        return last, seq, [s.reshape(shape) for s in states]

    def run(self, x, initial_states, mask, go_backwards, return_sequences,
            zero_output_for_mask, prev_output=None):
        if x.shape[0] == 0 or x.shape[1] == 0:
            return self.numpy.run(x, initial_states, mask, go_backwards, return_sequences,
                                  zero_output_for_mask, prev_output)
        from .numpy_rnn import conv_projection
        # the frames time-major (the input's channels: usually few), so that the projection
        # comes out in the loop's order
        proj = conv_projection(np.moveaxis(np.asarray(x, self.dtype), 1, 0), self.W,
                               self.bias, self.conv, self.dtype)
        return self._run(proj, initial_states, mask, go_backwards, return_sequences,
                         zero_output_for_mask, prev_output)


def conv_lstm_of(spec: CellSpec, weights: CellWeights) -> Optional[NumbaConvLSTM]:
    """The compiled ConvLSTM kernel, or None where it does not apply (numba missing,
    activations, dtypes, ConvLSTM3D)."""
    if not available() or spec.conv is None or spec.conv.rank > 2 or not supports(
            [CellSpec("lstm", spec.units, spec.activation, spec.recurrent_activation,
                      spec.use_bias, False, spec.dtype)]):
        return None
    return NumbaConvLSTM(spec, weights)


def cells_of(specs: Sequence[CellSpec], weights: Sequence[CellWeights]
             ) -> Optional[NumbaRecurrent]:
    """The compiled kernel, or None where it does not apply (numba missing, activations)."""
    if not available() or not supports(specs):
        return None
    return NumbaRecurrent(specs, weights)

