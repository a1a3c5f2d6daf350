"""SimpleRNN, LSTM, GRU and RNN(cell | [cells]) layers: config -> cells -> the time loop."""

from __future__ import annotations

from typing import List

import numpy as np

from .. import activations
from .._legacy import adapt_rnn_weights
from .._recurrent import Cell, GRUCell, LSTMCell, SimpleRNNCell, StackedCell, run
from ..errors import ConfigError, InputError, UnsupportedError
from .base import Layer, WeightSlot, as_list, to_snake_case

_CELLS = {"SimpleRNNCell": SimpleRNNCell, "LSTMCell": LSTMCell, "GRUCell": GRUCell}
_LAYER_CELL = {"SimpleRNN": "SimpleRNNCell", "LSTM": "LSTMCell", "GRU": "GRUCell"}
_SLOT_NAMES = ("kernel", "recurrent_kernel", "bias")


def _unwrap(obj):
    """(class_name, config) of a serialized Keras object."""
    if not isinstance(obj, dict) or "class_name" not in obj:
        raise ConfigError(f"expected a serialized Keras object, received {obj!r:.200}")
    return obj["class_name"], obj.get("config") or {}


def split_call(layer, inputs, mask, initial_state, kwargs):
    """(sequence, initial states, sequence mask) of a recurrent call. Keras 2 passes initial
    states as extra inputs ``[x, *states]``, Keras 3 as ``initial_state``."""
    if kwargs:
        raise UnsupportedError(f"{layer.where}: call arguments {sorted(kwargs)} are not "
                               f"supported; supported: initial_state, mask, training")
    items = as_list(inputs)
    x, states = items[0], items[1:]
    if initial_state is not None:
        states = as_list(initial_state)
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    return x, states, mask


class RNN(Layer):
    """Any recurrent layer. ``self.cell`` holds the maths; this class holds time options."""


    def __init__(self, class_name, name, config, ctx):
        super().__init__(class_name, name, config, ctx)
        if class_name in _LAYER_CELL:
            self.cell_classes = [_LAYER_CELL[class_name]]
            self.cell = self._make_cell(_LAYER_CELL[class_name], config)
        else:
            self.cell = self._make_rnn_cell(self.require("cell"))
        self.return_sequences = self.bool_opt("return_sequences", False)
        self.return_state = self.bool_opt("return_state", False)
        self.go_backwards = self.bool_opt("go_backwards", False)
        self.time_major = self.bool_opt("time_major", False)
        self.zero_output_for_mask = self.bool_opt("zero_output_for_mask", False)
        self.stateful = self.bool_opt("stateful", False)
        self.unroll = self.bool_opt("unroll", False)      # the same maths either way
        for key in ("constants",):
            if self.opt(key):
                self.refuse(key, self.opt(key), "none")
        cells = self.cell.cells if isinstance(self.cell, StackedCell) else [self.cell]
        self.slots = [WeightSlot(n, s) for c in cells
                      for n, s in zip(_SLOT_NAMES, c.weight_shapes())]

    # ----- config -----------------------------------------------------------------------------
    def _make_rnn_cell(self, spec):
        """A single cell, or a StackedCell for ``RNN([cells])`` / ``StackedRNNCells``."""
        stacked = isinstance(spec, list)
        specs = spec if stacked else [spec]
        if not stacked and _unwrap(spec)[0] == "StackedRNNCells":
            stacked, specs = True, _unwrap(spec)[1].get("cells")
            if not isinstance(specs, list) or not specs:
                raise ConfigError(f"{self.where}: StackedRNNCells config has no 'cells' list")
        self.cell_classes = []
        cells = []
        for s in specs:
            cls, cfg = _unwrap(s)
            if cls not in _CELLS:
                raise UnsupportedError(f"{self.where}: cell class {cls!r} is not supported; "
                                       f"supported: {', '.join(sorted(_CELLS))}")
            self.cell_classes.append(cls)
            cells.append(self._make_cell(cls, cfg))
        return StackedCell(cells) if stacked else cells[0]

    def _make_cell(self, cls: str, cfg: dict) -> Cell:
        where = f"{self.where}"
        if not isinstance(cfg, dict):
            raise ConfigError(f"{where}: the {cls} config must be an object")
        opts = _CellOptions(self, cfg)
        units = opts.int_opt("units", None)
        if units is None:
            raise ConfigError(f"{where}: config has no 'units'")
        act = activations.get(cfg.get("activation", "tanh"), self.ctx.keras_major,
                              f"{where} activation")
        use_bias = opts.bool_opt("use_bias", True)
        dtype = self.dtype
        if cls == "SimpleRNNCell":
            return SimpleRNNCell(units, act, None, use_bias, dtype)
        ract = activations.get(cfg.get("recurrent_activation",
                                       self.ctx.default_recurrent_activation),
                               self.ctx.keras_major,
                               f"{where} recurrent_activation")
        if cls == "LSTMCell":
            return LSTMCell(units, act, ract, use_bias, dtype)
        return GRUCell(units, act, ract, use_bias, dtype, opts.bool_opt("reset_after", False))

    # ----- weights ----------------------------------------------------------------------------
    def keras3_paths(self) -> List[str]:
        if not isinstance(self.cell, StackedCell):
            return ["cell"]
        seen: dict = {}
        paths = []
        for cls in self.cell_classes:
            base = to_snake_case(cls)
            seen[base] = seen.get(base, -1) + 1
            paths.append(f"cell/cells/{base}" + (f"_{seen[base]}" if seen[base] else ""))
        return paths

    def build_weights(self, arrays):
        cells = self.cell.cells if isinstance(self.cell, StackedCell) else [self.cell]
        k = 0
        for c in cells:
            n = len(c.weight_shapes())
            c.set(arrays[k:k + n])
            k += n
        for prev, c in zip(cells, cells[1:]):
            if c.features != prev.output_size:
                raise ConfigError(f"{self.where}: stacked cell kernel has {c.features} input "
                                  f"rows, the previous cell outputs {prev.output_size}")

    def adapt_legacy(self, arrays, backend=None):
        if self.class_name not in _LAYER_CELL:
            return arrays
        return adapt_rnn_weights(self.class_name, self.cell.units,
                                 getattr(self.cell, "reset_after", False), arrays, self.where)

    @property
    def input_features(self) -> int:
        return self.cell.features

    # ----- maths ------------------------------------------------------------------------------
    def call(self, inputs, mask=None, initial_state=None, training=None, state_ctx=None,
             **kwargs):
        x, states, mask = split_call(self, inputs, mask, initial_state, kwargs)
        x = self.cast_input(np.asarray(x))
        if x.ndim != 3:
            raise InputError(f"{self.where}: expects input of rank 3 (batch, time, features), "
                             f"received shape {x.shape}")
        if self.time_major:
            x = x.swapaxes(0, 1)
            if mask is not None:
                mask = np.asarray(mask).swapaxes(0, 1)
        if x.shape[2] != self.input_features:
            raise InputError(f"{self.where}: expects {self.input_features} input features, "
                             f"received shape {x.shape}")
        batch = x.shape[0]
        sizes = self.cell.state_sizes
        if states:
            if len(states) != len(sizes):
                raise InputError(f"{self.where}: expects {len(sizes)} initial state tensors, "
                                 f"received {len(states)}")
            init = []
            for k, (s, size) in enumerate(zip(states, sizes)):
                s = np.asarray(s)
                if s.shape != (batch, size):
                    raise InputError(f"{self.where}: initial state {k} must have shape "
                                     f"({batch}, {size}), received {s.shape}")
                init.append(s.astype(self.dtype, copy=False))
        else:
            init = None
        prev_output = None
        if state_ctx is not None:
            init, prev_output = state_ctx.initial(self, batch, init)
        if init is None:
            init = [np.zeros((batch, size), self.dtype) for size in sizes]
        if mask is not None:
            mask = np.asarray(mask, bool)
            if mask.shape != x.shape[:2]:
                raise InputError(f"{self.where}: mask shape {mask.shape} does not match input "
                                 f"shape {x.shape}")
        last, seq, final = run(self.cell, x, init, mask, self.go_backwards,
                               self.return_sequences, self.zero_output_for_mask, prev_output)
        if state_ctx is not None:
            state_ctx.save(self, final, last)
        out = seq if self.return_sequences else last
        if self.time_major and self.return_sequences:
            out = out.swapaxes(0, 1)
        return [out, *final] if self.return_state else out

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        out_mask = mask if self.return_sequences else None
        if self.return_state:
            return [out_mask] + [None] * len(self.cell.state_sizes)
        return out_mask

    def describe(self):
        opts = [f"units={self.cell.output_size}"]
        for key in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
            if getattr(self, key, False):
                opts.append(key)
        return ", ".join(opts)


class _CellOptions(Layer):
    """The typed option readers of a layer, over a cell's own config (``RNN(cell)``)."""

    def __init__(self, layer: Layer, cfg: dict):      # noqa: D107 - no Layer.__init__
        self.class_name, self.name, self.ctx, self.config = \
            layer.class_name, layer.name, layer.ctx, cfg
